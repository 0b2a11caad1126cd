#include "stage0/store/tree_digest.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/error.h"
#include "common/io.h"
#include "common/unique_fd.h"

namespace rkt::store {

namespace {

// Changing what is hashed changes this line, so digests of different forms never meet.
constexpr std::string_view kFormat = "rkt-tree-digest-1\n";

struct Entry {
    std::string name;
    struct stat st {};
    std::string extra;  // content digest, link target or device number
};

UniqueFd open_dir_beneath(int root_fd, const std::string& rel) {
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    const char* p = rel.empty() ? "." : rel.c_str();
    long fd = io::retry_eintr([&] { return ::syscall(SYS_openat2, root_fd, p, &how, sizeof how); });
    if (fd < 0) throw system_error("cannot open directory " + (rel.empty() ? "." : rel));
    return UniqueFd(static_cast<int>(fd));
}

std::string content_digest(int dir_fd, const Entry& e, const std::string& rel) {
    UniqueFd fd(::openat(dir_fd, e.name.c_str(),
                         O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) throw system_error("cannot open " + rel);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) throw system_error("cannot stat " + rel);
    if (st.st_ino != e.st.st_ino || st.st_dev != e.st.st_dev || !S_ISREG(st.st_mode))
        throw Error(rel + " changed while the tree was digested");
    Sha256 h;
    std::vector<char> buf(1 << 16);
    uint64_t total = 0;
    for (;;) {
        ssize_t n = io::retry_eintr([&] { return ::read(fd.get(), buf.data(), buf.size()); });
        if (n < 0) throw system_error("cannot read " + rel);
        if (n == 0) break;
        h.update(buf.data(), static_cast<size_t>(n));
        total += static_cast<uint64_t>(n);
    }
    if (total != static_cast<uint64_t>(e.st.st_size))
        throw Error(rel + " changed while the tree was digested");
    return h.hex_digest();
}

std::string link_target(int dir_fd, const Entry& e, const std::string& rel) {
    std::string buf(static_cast<size_t>(std::max<off_t>(e.st.st_size, 0)) + 1, '\0');
    ssize_t n = ::readlinkat(dir_fd, e.name.c_str(), buf.data(), buf.size());
    if (n < 0) throw system_error("cannot read the symlink " + rel);
    if (static_cast<size_t>(n) >= buf.size())
        throw Error(rel + " changed while the tree was digested");
    buf.resize(static_cast<size_t>(n));
    return buf;
}

char type_letter(mode_t mode) {
    switch (mode & S_IFMT) {
        case S_IFDIR:
            return 'd';
        case S_IFREG:
            return 'f';
        case S_IFLNK:
            return 'l';
        case S_IFCHR:
            return 'c';
        case S_IFBLK:
            return 'b';
        case S_IFIFO:
            return 'p';
        case S_IFSOCK:
            return 's';
        default:
            return '?';
    }
}

// One record per entry. Names and link targets hold no NUL, numbers are decimal: NUL-separated
// fields cannot be confused with one another.
void add_record(Sha256& h, const std::string& rel, const Entry& e) {
    std::string r = rel;
    r += '\0';
    r += type_letter(e.st.st_mode);
    r += '\0' + std::to_string(e.st.st_mode & 07777);
    r += '\0' + std::to_string(e.st.st_uid);
    r += '\0' + std::to_string(e.st.st_gid);
    r += '\0' + std::to_string(S_ISREG(e.st.st_mode) || S_ISLNK(e.st.st_mode) ? e.st.st_size : 0);
    r += '\0' + e.extra;
    r += '\0';
    h.update(r);
}

std::string join(const std::string& dir, const std::string& name) {
    return dir.empty() ? name : dir + "/" + name;
}

// Reads and describes one directory's entries, sorted by name, then closes it: a deep tree
// holds one directory open at a time.
std::vector<Entry> read_entries(int root_fd, const std::string& rel) {
    UniqueFd fd = open_dir_beneath(root_fd, rel);
    UniqueFd list(::dup(fd.get()));
    if (!list) throw system_error("dup");
    DIR* d = ::fdopendir(list.get());
    if (!d) throw system_error("cannot list " + (rel.empty() ? "." : rel));
    (void)list.release();
    std::unique_ptr<DIR, int (*)(DIR*)> dir(d, ::closedir);
    std::vector<Entry> entries;
    errno = 0;
    while (dirent* de = ::readdir(d)) {
        std::string_view name = de->d_name;
        if (name == "." || name == "..") continue;
        entries.push_back({std::string(name), {}, {}});
    }
    if (errno != 0) throw system_error("cannot list " + (rel.empty() ? "." : rel));
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.name < b.name; });
    for (Entry& e : entries) {
        std::string path = join(rel, e.name);
        if (::fstatat(fd.get(), e.name.c_str(), &e.st, AT_SYMLINK_NOFOLLOW) < 0)
            throw system_error("cannot stat " + path);
        if (S_ISREG(e.st.st_mode))
            e.extra = content_digest(fd.get(), e, path);
        else if (S_ISLNK(e.st.st_mode))
            e.extra = link_target(fd.get(), e, path);
        else if (S_ISCHR(e.st.st_mode) || S_ISBLK(e.st.st_mode))
            e.extra =
                std::to_string(major(e.st.st_rdev)) + ":" + std::to_string(minor(e.st.st_rdev));
    }
    return entries;
}

void walk(Sha256& h, int root_fd, const std::string& rel, unsigned depth) {
    // The store's layers bound paths to 4096 bytes, so a real tree is never this deep.
    if (depth > 4096) throw Error("the tree is nested too deeply at " + rel);
    for (const Entry& e : read_entries(root_fd, rel)) {
        std::string path = join(rel, e.name);
        add_record(h, path, e);
        if (S_ISDIR(e.st.st_mode)) walk(h, root_fd, path, depth + 1);
    }
}

}  // namespace

std::string tree_digest(const std::filesystem::path& root) {
    return with_context("cannot digest the tree " + root.string(), [&] {
        UniqueFd root_fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!root_fd) throw system_error("cannot open it");
        Entry top;
        if (::fstat(root_fd.get(), &top.st) < 0) throw system_error("cannot stat it");
        Sha256 h;
        h.update(kFormat);
        add_record(h, ".", top);
        walk(h, root_fd.get(), "", 0);
        return "sha256:" + h.hex_digest();
    });
}

bool is_valid_tree_digest(const std::string& digest) {
    return is_valid_sha256_digest(digest);
}

}  // namespace rkt::store
