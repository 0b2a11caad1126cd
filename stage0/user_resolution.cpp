#include "stage0/user_resolution.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <optional>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"

namespace rkt {

namespace {

// Reads <rootfs>/etc/<name> without following symlinks out of the image: the file is opened
// beneath the root (RESOLVE_IN_ROOT) because the image is untrusted.
std::string read_etc_file(const std::filesystem::path& rootfs, const char* name) {
    UniqueFd root(::open(rootfs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root) return {};
    struct open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    std::string rel = std::string("etc/") + name;
    int fd = static_cast<int>(::syscall(SYS_openat2, root.get(), rel.c_str(), &how, sizeof how));
    if (fd < 0) return {};
    UniqueFd file(fd);
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(file.get(), buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
        if (out.size() > (16u << 20)) throw Error(std::string("/etc/") + name + " of the image is too large");
    }
    return out;
}

struct Entry {
    std::string name;
    uint32_t id;
    uint32_t gid;  // passwd only
};

std::optional<Entry> find_entry(const std::string& db, const std::string& key, bool by_name,
                                bool passwd) {
    for (const auto& line : strings::split(db, '\n')) {
        auto f = strings::split(line, ':');
        if (f.size() < (passwd ? 4u : 3u) || !strings::is_decimal(f[2]) || f[2].size() > 10) continue;
        if (passwd && (!strings::is_decimal(f[3]) || f[3].size() > 10)) continue;
        Entry e{f[0], static_cast<uint32_t>(std::stoul(f[2])),
                passwd ? static_cast<uint32_t>(std::stoul(f[3])) : 0};
        if (by_name ? e.name == key : std::to_string(e.id) == key) return e;
    }
    return std::nullopt;
}

uint32_t parse_id(const std::string& s) {
    unsigned long v = std::stoul(s);
    if (s.size() > 10 || v > 0xfffffffeul) throw Error("id " + s + " is out of range");
    return static_cast<uint32_t>(v);
}

}  // namespace

ResolvedIds resolve_user_group(const std::filesystem::path& rootfs, const std::string& user,
                               const std::string& group) {
    ResolvedIds ids;
    std::string passwd;
    bool passwd_read = false;
    auto passwd_db = [&]() -> const std::string& {
        if (!passwd_read) passwd = read_etc_file(rootfs, "passwd"), passwd_read = true;
        return passwd;
    };
    std::optional<Entry> user_entry;
    if (user.empty() || strings::is_decimal(user)) {
        ids.uid = user.empty() ? 0 : parse_id(user);
        if (group.empty()) user_entry = find_entry(passwd_db(), std::to_string(ids.uid), false, true);
    } else {
        user_entry = find_entry(passwd_db(), user, true, true);
        if (!user_entry)
            throw Error("user \"" + user + "\" is not in the image's /etc/passwd; give a uid instead");
        ids.uid = user_entry->id;
    }
    if (group.empty()) {
        ids.gid = user_entry ? user_entry->gid : 0;
    } else if (strings::is_decimal(group)) {
        ids.gid = parse_id(group);
    } else {
        auto g = find_entry(read_etc_file(rootfs, "group"), group, true, false);
        if (!g) throw Error("group \"" + group + "\" is not in the image's /etc/group; give a gid instead");
        ids.gid = g->id;
    }
    return ids;
}

}  // namespace rkt
