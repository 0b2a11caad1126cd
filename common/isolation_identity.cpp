// Who an app runs as: user, group and supplementary groups, resolved from the image's own
// /etc/passwd and /etc/group. The files are parsed here (no NSS: guest-init is static, and the
// host's NSS must not answer for an image).
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <limits>
#include <optional>

#include "common/error.h"
#include "common/fs.h"
#include "common/isolation.h"
#include "common/isolation_rootfs.h"
#include "common/strings.h"

namespace rkt::isolation {
namespace {

constexpr size_t kMaxDatabaseSize = 16 * 1024 * 1024;

struct PasswdEntry {
    std::string name;
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::string home;
};

struct GroupEntry {
    std::string name;
    uint32_t gid = 0;
    std::vector<std::string> members;
};

std::optional<uint32_t> parse_id(std::string_view s) {
    if (!strings::is_decimal(s) || s.size() > 10) return std::nullopt;
    uint64_t v = std::stoull(std::string(s));
    // (uid_t)-1 means "no change" to setuid-family calls: never a valid id.
    if (v >= std::numeric_limits<uint32_t>::max()) return std::nullopt;
    return static_cast<uint32_t>(v);
}

// Lines of a colon-separated database; malformed lines are skipped as libc does.
std::vector<std::vector<std::string>> read_database(int root_fd, std::string_view path) {
    std::vector<std::vector<std::string>> out;
    if (!rootfs::exists(root_fd, path)) return out;
    std::string text = rootfs::read_file(root_fd, path, kMaxDatabaseSize);
    for (const auto& line : strings::split(text, '\n')) {
        if (line.empty() || line[0] == '#') continue;
        out.push_back(strings::split(line, ':'));
    }
    return out;
}

std::vector<PasswdEntry> read_passwd(int root_fd) {
    std::vector<PasswdEntry> out;
    for (auto& f : read_database(root_fd, "/etc/passwd")) {
        if (f.size() < 7) continue;
        auto uid = parse_id(f[2]);
        auto gid = parse_id(f[3]);
        if (!uid || !gid || f[0].empty()) continue;
        out.push_back({f[0], *uid, *gid, f[5]});
    }
    return out;
}

std::vector<GroupEntry> read_group(int root_fd) {
    std::vector<GroupEntry> out;
    for (auto& f : read_database(root_fd, "/etc/group")) {
        if (f.size() < 4) continue;
        auto gid = parse_id(f[2]);
        if (!gid || f[0].empty()) continue;
        GroupEntry g{f[0], *gid, {}};
        for (auto& m : strings::split(f[3], ','))
            if (!m.empty()) g.members.push_back(strings::trim(m));
        out.push_back(std::move(g));
    }
    return out;
}

struct stat stat_in_root(int root_fd, const std::string& path, const char* what) {
    rootfs::Resolved r = rootfs::resolve(root_fd, path);
    if (!r.fd) throw Error(std::string(what) + " \"" + path + "\" does not exist in the image");
    struct stat st {};
    if (::fstat(r.fd.get(), &st) < 0) throw system_error("cannot stat " + path);
    return st;
}

}  // namespace

Identity resolve_identity(const AppSpec& app, int root_fd) {
    Identity id;
    std::vector<PasswdEntry> passwd = read_passwd(root_fd);
    const PasswdEntry* entry = nullptr;

    const std::string& user = app.user.empty() ? std::string("0") : app.user;
    if (auto uid = parse_id(user)) {
        id.uid = *uid;
        for (const auto& p : passwd)
            if (p.uid == id.uid) {
                entry = &p;
                break;
            }
    } else if (user[0] == '/') {
        id.uid = stat_in_root(root_fd, user, "user file").st_uid;
    } else {
        for (const auto& p : passwd)
            if (p.name == user) {
                entry = &p;
                break;
            }
        if (!entry)
            throw Error("user \"" + user + "\" is not in the image's /etc/passwd (use a name " +
                        "from it, or a number)");
        id.uid = entry->uid;
    }
    if (entry) {
        id.user_name = entry->name;
        if (!entry->home.empty()) id.home = entry->home;
    }

    std::vector<GroupEntry> groups = read_group(root_fd);
    const std::string& group = app.group;
    if (group.empty()) {
        // No group given: the user's primary group, as Docker does (0 for an unknown uid).
        id.gid = entry ? entry->gid : 0;
    } else if (auto gid = parse_id(group)) {
        id.gid = *gid;
    } else if (group[0] == '/') {
        id.gid = stat_in_root(root_fd, group, "group file").st_gid;
    } else {
        auto it = std::find_if(groups.begin(), groups.end(),
                               [&](const GroupEntry& g) { return g.name == group; });
        if (it == groups.end())
            throw Error("group \"" + group + "\" is not in the image's /etc/group (use a name " +
                        "from it, or a number)");
        id.gid = it->gid;
    }

    for (uint32_t g : app.supplementary_gids) {
        if (g == std::numeric_limits<uint32_t>::max())
            throw Error("supplementary group id 4294967295 is not valid");
        id.supplementary_gids.push_back(g);
    }
    // The groups of /etc/group that list the user, as login(1) and Docker give them.
    if (!id.user_name.empty()) {
        for (const auto& g : groups)
            if (std::find(g.members.begin(), g.members.end(), id.user_name) != g.members.end())
                id.supplementary_gids.push_back(g.gid);
    }
    std::sort(id.supplementary_gids.begin(), id.supplementary_gids.end());
    id.supplementary_gids.erase(
        std::unique(id.supplementary_gids.begin(), id.supplementary_gids.end()),
        id.supplementary_gids.end());
    if (id.supplementary_gids.size() > 65536) throw Error("too many supplementary groups");
    return id;
}

Identity resolve_identity(const AppSpec& app, const std::filesystem::path& rootfs) {
    UniqueFd root = fs::open_dir(rootfs);
    return with_context("app rootfs " + rootfs.string(),
                        [&] { return resolve_identity(app, root.get()); });
}

}  // namespace rkt::isolation
