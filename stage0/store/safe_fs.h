// File operations confined to a directory fd: paths from hostile input are resolved with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so neither ".." nor a symlink can lead out,
// and final components are never followed.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace rkt::store::safe_fs {

// Normalises a path from an archive entry: strips "./" and duplicate slashes and returns the
// components joined by '/', or "" for the root itself. Throws for absolute paths, ".."
// components, empty or overlong names, and paths longer than `max_length`.
std::string normalize_entry_path(std::string_view raw, uint64_t max_length);

// "a/b/c" -> {"a/b", "c"}; "c" -> {"", "c"}.
std::pair<std::string, std::string> split_parent(const std::string& path);

// openat2 beneath `root_fd`; "" means the root itself. Returns the fd, or -errno.
int open_beneath_raw(int root_fd, const std::string& rel, int flags, mode_t mode = 0);
// As above but throws an Error that explains escapes ("through a symlink") and missing parents.
UniqueFd open_beneath(int root_fd, const std::string& rel, int flags, mode_t mode = 0);

// Opens directory `rel` (O_PATH) beneath root, creating missing components with `mode`.
UniqueFd ensure_dir_beneath(int root_fd, const std::string& rel, mode_t mode = 0755);

// Removes `name` in `dir_fd` (a file, a symlink itself, or a whole directory tree) without
// following symlinks and without needing one fd per level. Missing is fine.
void remove_at(int dir_fd, const std::string& name);
// Same for a path (its parent is trusted; the final component is not followed).
void remove_path(const std::filesystem::path& path);

// Reads a whole file beneath root, refusing more than `limit` bytes.
std::string read_beneath(int root_fd, const std::string& rel, uint64_t limit);

}  // namespace rkt::store::safe_fs
