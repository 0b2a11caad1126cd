// Resolving paths inside an app's root from outside it: an image is hostile, and a symlink such
// as /proc -> / must not make guest-init mount over its own files. Every lookup is confined to
// the root (openat2 RESOLVE_IN_ROOT); mounts then target the opened directory by fd.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/unique_fd.h"

namespace rkt::guest_init {

// Opens directory `path` (absolute, relative to `root_fd`) as O_PATH, creating missing
// components with `mode` when `create` is set. Throws rkt::Error.
UniqueFd open_dir_in_root(int root_fd, const std::string& path, bool create, mode_t mode = 0755);

// "/proc/self/fd/<fd>": a mount target that is exactly the opened directory.
std::string fd_path(int fd);

// mount(2) that throws an Error naming `what` on failure.
void mount_checked(const std::string& source, const std::string& target, const char* type,
                   unsigned long flags, const std::string& data, const std::string& what);

}  // namespace rkt::guest_init
