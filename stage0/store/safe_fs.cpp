#include "stage0/store/safe_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "common/error.h"
#include "common/io.h"

namespace rkt::store::safe_fs {
namespace {

// Linux NAME_MAX: no file system we extract to accepts a longer component.
constexpr size_t kMaxNameLength = 255;

std::string describe_open_error(int err, const std::string& rel) {
    std::string shown = rel.empty() ? "." : rel;
    switch (err) {
        case EXDEV:
            return "\"" + shown + "\" leads outside the image root through a symlink";
        case ELOOP:
            return "\"" + shown + "\" passes through too many symlinks or a magic link";
        case ENOTDIR:
            return "a parent of \"" + shown + "\" is not a directory";
        default:
            return "cannot open \"" + shown + "\": " + std::strerror(err);
    }
}

}  // namespace

std::string normalize_entry_path(std::string_view raw, uint64_t max_length) {
    if (raw.size() > max_length)
        throw Error("path of " + std::to_string(raw.size()) +
                    " bytes is longer than the limit of " + std::to_string(max_length));
    if (!raw.empty() && raw.front() == '/')
        throw Error("absolute path \"" + std::string(raw.substr(0, 200)) + "\" is not allowed");
    std::string out;
    size_t pos = 0;
    while (pos <= raw.size()) {
        size_t end = raw.find('/', pos);
        if (end == std::string_view::npos) end = raw.size();
        std::string_view comp = raw.substr(pos, end - pos);
        pos = end + 1;
        if (comp.empty() || comp == ".") continue;
        if (comp == "..")
            throw Error("path \"" + std::string(raw.substr(0, 200)) + "\" has a \"..\" component");
        if (comp.size() > kMaxNameLength)
            throw Error("path \"" + std::string(raw.substr(0, 200)) +
                        "...\" has a name longer than 255 bytes");
        if (!out.empty()) out.push_back('/');
        out.append(comp);
    }
    return out;
}

std::pair<std::string, std::string> split_parent(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return {"", path};
    return {path.substr(0, slash), path.substr(slash + 1)};
}

int open_beneath_raw(int root_fd, const std::string& rel, int flags, mode_t mode) {
    struct open_how how {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    const char* p = rel.empty() ? "." : rel.c_str();
    for (;;) {
        long fd = ::syscall(SYS_openat2, root_fd, p, &how, sizeof(how));
        if (fd >= 0) return static_cast<int>(fd);
        // EAGAIN: a concurrent rename raced the lookup; the kernel asks us to retry.
        if (errno == EINTR || errno == EAGAIN) continue;
        if (errno == ENOSYS)
            throw Error(
                "this kernel lacks openat2(2) (Linux 5.6+), which rkt needs to unpack "
                "images safely");
        return -errno;
    }
}

UniqueFd open_beneath(int root_fd, const std::string& rel, int flags, mode_t mode) {
    int fd = open_beneath_raw(root_fd, rel, flags, mode);
    if (fd < 0) throw Error(describe_open_error(-fd, rel));
    return UniqueFd(fd);
}

UniqueFd ensure_dir_beneath(int root_fd, const std::string& rel, mode_t mode) {
    int fd = open_beneath_raw(root_fd, rel, O_PATH | O_DIRECTORY);
    if (fd >= 0) return UniqueFd(fd);
    if (fd != -ENOENT) throw Error(describe_open_error(-fd, rel));
    // Walk down, creating what is missing. A plain directory is entered relative to its parent
    // (linear in the depth); a symlink is resolved from the root with the same confinement as
    // above, so that links inside the tree work exactly as the kernel resolves them.
    UniqueFd current(::dup(root_fd));
    if (!current) throw system_error("dup");
    std::string prefix;
    size_t pos = 0;
    while (pos < rel.size()) {
        size_t end = rel.find('/', pos);
        if (end == std::string::npos) end = rel.size();
        std::string comp = rel.substr(pos, end - pos);
        pos = end + 1;
        std::string next = prefix.empty() ? comp : prefix + "/" + comp;
        const int flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
        int child = ::openat(current.get(), comp.c_str(), flags);
        if (child < 0 && errno == ENOENT) {
            if (::mkdirat(current.get(), comp.c_str(), mode) < 0) {
                if (errno != EEXIST) throw system_error("cannot create directory \"" + next + "\"");
            } else if (::fchmodat(current.get(), comp.c_str(), mode, 0) < 0) {
                // The mode must not depend on the umask of whoever renders the tree.
                throw system_error("cannot set the mode of \"" + next + "\"");
            }
            child = ::openat(current.get(), comp.c_str(), flags);
        }
        if (child < 0) {
            // Not a plain directory: a symlink (or not a directory at all) takes the confined
            // lookup, which either follows it inside the tree or explains the refusal.
            child = open_beneath_raw(root_fd, next, O_PATH | O_DIRECTORY);
            if (child < 0) throw Error(describe_open_error(-child, next));
        }
        current.reset(child);
        prefix = std::move(next);
    }
    return current;
}

namespace {

// Opens a directory for listing, without following a symlink in its place. A directory we may
// not read (non-root, mode 0) is made readable first: we are about to delete it anyway.
int open_dir_nofollow(int parent_fd, const std::string& name) {
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd = ::openat(parent_fd, name.c_str(), flags);
    if (fd < 0 && errno == EACCES) {
        ::fchmodat(parent_fd, name.c_str(), 0700, 0);
        fd = ::openat(parent_fd, name.c_str(), flags);
    }
    return fd;
}

struct DirCloser {
    void operator()(DIR* d) const { ::closedir(d); }
};

// Unlinks the non-directories in `dir_fd` and returns the name of one subdirectory, if any.
std::optional<std::string> clear_files_find_subdir(int dir_fd) {
    int listing = ::dup(dir_fd);
    if (listing < 0) throw system_error("dup");
    std::unique_ptr<DIR, DirCloser> dir(::fdopendir(listing));
    if (!dir) {
        ::close(listing);
        throw system_error("cannot list a directory to remove it");
    }
    ::rewinddir(dir.get());
    while (dirent* e = ::readdir(dir.get())) {
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        bool is_dir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
            struct stat st {};
            if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
            is_dir = S_ISDIR(st.st_mode);
        }
        if (is_dir) return name;
        if (::unlinkat(dir_fd, name.c_str(), 0) < 0 && errno != ENOENT)
            throw system_error("cannot remove \"" + name + "\"");
    }
    return std::nullopt;
}

}  // namespace

void remove_at(int dir_fd, const std::string& name) {
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) return;
        throw system_error("cannot stat \"" + name + "\"");
    }
    if (!S_ISDIR(st.st_mode)) {
        if (::unlinkat(dir_fd, name.c_str(), 0) < 0 && errno != ENOENT)
            throw system_error("cannot remove \"" + name + "\"");
        return;
    }
    // Depth-first with a single open directory: descend by name, climb back through "..".
    // Trees from images can be deeper than the fd limit or PATH_MAX allow otherwise.
    int top = open_dir_nofollow(dir_fd, name);
    if (top < 0) throw system_error("cannot open \"" + name + "\" to remove it");
    UniqueFd current(top);
    std::vector<std::string> stack;  // names from `name` down to the current directory
    for (;;) {
        if (auto sub = clear_files_find_subdir(current.get())) {
            int child = open_dir_nofollow(current.get(), *sub);
            if (child < 0) {
                if (errno == ENOENT) continue;
                throw system_error("cannot open \"" + *sub + "\" to remove it");
            }
            current.reset(child);
            stack.push_back(*sub);
            continue;
        }
        if (stack.empty()) break;
        int parent = ::openat(current.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent < 0) throw system_error("cannot climb back while removing a tree");
        current.reset(parent);
        if (::unlinkat(current.get(), stack.back().c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT)
            throw system_error("cannot remove directory \"" + stack.back() + "\"");
        stack.pop_back();
    }
    current.reset();
    if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT)
        throw system_error("cannot remove directory \"" + name + "\"");
}

void remove_path(const std::filesystem::path& path) {
    std::filesystem::path parent = path.parent_path();
    if (parent.empty()) parent = ".";
    int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return;
        throw system_error("cannot open " + parent.string());
    }
    UniqueFd parent_fd(fd);
    with_context("cannot remove " + path.string(),
                 [&] { remove_at(parent_fd.get(), path.filename().string()); });
}

std::string read_beneath(int root_fd, const std::string& rel, uint64_t limit) {
    UniqueFd fd = open_beneath(root_fd, rel, O_RDONLY);
    std::string out;
    std::array<char, 65536> buf{};
    for (;;) {
        ssize_t n = io::read_some(fd.get(), buf.data(), buf.size());
        if (n < 0) {
            throw system_error("cannot read \"" + rel + "\"");
        }
        if (n == 0) break;
        if (out.size() + static_cast<uint64_t>(n) > limit)
            throw Error("\"" + rel + "\" is larger than the limit of " + std::to_string(limit) +
                        " bytes");
        out.append(buf.data(), static_cast<size_t>(n));
    }
    return out;
}

}  // namespace rkt::store::safe_fs
