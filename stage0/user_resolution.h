// Resolves an app's user and group (names or numbers) against the image's own /etc/passwd and
// /etc/group at prepare time, so every stage1 receives plain numbers.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace rkt {

struct ResolvedIds {
    uid_t uid = 0;
    gid_t gid = 0;
};

// `group` empty means the user's primary group (Docker's rule), or gid 0 when the user is a
// number with no passwd entry.
ResolvedIds resolve_user_group(const std::filesystem::path& rootfs, const std::string& user,
                               const std::string& group);

}  // namespace rkt
