// Who may use a data directory, and how: its owners and modes (docs/architecture.md, "The data
// directory"). Root trusts only a data directory that root alone controls, as git trusts only a
// repository of its own user; every other user reads at most the pods, through the "rkt" group.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>

namespace rkt::data_dir {

namespace stdfs = std::filesystem;

// The group whose members may read pods (`rkt list`, `rkt status`): "rkt", when it exists.
std::optional<gid_t> reader_group();

// As root, before any use of `dir`: creates its skeleton (pods/<state>/, cas/..., locks/), refuses
// it when it, a part of it or a directory above it could be changed by another user (one line
// naming the path, its owner and the fix), and sets every part's owner and mode, so that a data
// directory of an older rkt is tightened. With `readers` the top, pods/ and pods/<state>/ are
// 2750 root:readers; without, 0700 root:root. Everything else is 0700 root:root. Returns the
// directory's canonical path, which the caller must use from then on: a symlink given as --dir
// could be pointed elsewhere after the check.
stdfs::path secure(const stdfs::path& dir, std::optional<gid_t> readers);

// As another user: refuses in one line when the pods of `dir` cannot be read (no permission), so
// that `rkt list` never shows an empty list for want of rights. A missing `dir` is no error.
void check_pods_readable(const stdfs::path& dir);

// As another user: the image store is root's (fetch and the image commands need root); a data
// directory of one's own is fine.
void check_store_usable(const stdfs::path& dir);

}  // namespace rkt::data_dir
