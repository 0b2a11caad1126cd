// Small file-system helpers that every stage needs. All of them throw rkt::Error.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.h"

namespace rkt::fs {

namespace stdfs = std::filesystem;

std::string read_file(const stdfs::path& path);
// Reads at most `limit` bytes; a longer file is an error naming `path` (hostile input).
std::string read_file_limited(const stdfs::path& path, size_t limit);
std::optional<std::string> read_file_if_exists(const stdfs::path& path);

// Whether a write must survive a power loss (fsync) or only be atomic for concurrent readers
// and killed writers (rename alone). Pod bookkeeping files are the latter: they are on the
// start-up path of every pod.
enum class Durability { kFsync, kAtomicOnly };

// Writes `data` to a temporary file next to `path` and renames it over `path`: readers see the
// old content or the new one, never a torn file.
void write_file_atomic(const stdfs::path& path, std::string_view data, mode_t mode = 0644,
                       Durability durability = Durability::kFsync);
void write_file(const stdfs::path& path, std::string_view data, mode_t mode = 0644);

void make_dirs(const stdfs::path& path, mode_t mode = 0755);
// The *.json files of a configuration directory (e.g. <config>/auth.d), in name order, so that
// later files win; none when the directory is missing.
std::vector<stdfs::path> json_files(const stdfs::path& dir);
// Removes a tree without following symlinks; missing is fine.
void remove_tree(const stdfs::path& path);
void fsync_dir(const stdfs::path& dir);

UniqueFd open_dir(const stdfs::path& path);
UniqueFd open_file(const stdfs::path& path, int flags, mode_t mode = 0);

// Total bytes of regular files under `path` (not following symlinks).
uint64_t tree_size(const stdfs::path& path);

// Directory of the running executable (/proc/self/exe), used to find installed data.
stdfs::path executable_dir();

}  // namespace rkt::fs
