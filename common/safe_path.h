// Path operations confined to a root directory: an image's rootfs is hostile, so a symlink in
// it must never lead a mount, mkdir or open of ours outside of it (openat2 RESOLVE_BENEATH /
// RESOLVE_IN_ROOT).
#pragma once

#include <sys/types.h>

#include <string>

#include "common/unique_fd.h"

namespace rkt::safe_path {

// Opens `rel` (absolute paths are taken relative to the root) beneath `root_fd`. Any symlink
// that would leave the root is an Error that says so. `flags` are open(2) flags.
UniqueFd open_beneath(int root_fd, const std::string& rel, int flags, mode_t mode = 0);
// Like open_beneath, but symlinks are resolved as if `root_fd` were "/" (as the app would see
// them), so absolute links inside an image work and still cannot escape.
UniqueFd open_in_root(int root_fd, const std::string& rel, int flags, mode_t mode = 0);
// Creates `rel` and its missing parents beneath the root (mode for new directories) and returns
// an O_PATH fd of the directory.
UniqueFd make_dirs_beneath(int root_fd, const std::string& rel, mode_t mode = 0755);
// Creates an empty regular file (for bind-mounting a file onto) and returns an O_PATH fd.
UniqueFd make_file_beneath(int root_fd, const std::string& rel, mode_t mode = 0644);
// "/proc/self/fd/<fd>": the name under which mount(2) accepts an fd as its target.
std::string fd_path(int fd);

}  // namespace rkt::safe_path
