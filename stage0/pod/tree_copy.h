// Copies a directory tree (an app's rendered image) into a pod, for `rkt run --no-overlay`:
// regular files, directories, symlinks (never followed), hard links (kept as links), device
// nodes, FIFOs and sockets, with their modes, owners, times and extended attributes. With an
// IdShift (--private-users), every owner and group moves up by the shift, and the ids inside
// file capabilities and POSIX ACLs move with them.
//
// The source is treated as hostile: every object is opened relative to its parent's descriptor
// with O_NOFOLLOW, what is opened must be what was listed, and an owner outside the shift's
// range is an error, never a wrap-around.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/id_shift.h"

namespace rkt {

struct TreeCopyOptions {
    std::optional<IdShift> shift;  // nullopt: owners are kept as they are
    int max_depth = 256;           // directories deeper than this are an error
};

struct TreeCopyStats {
    uint64_t files = 0, directories = 0, symlinks = 0, hard_links = 0, special = 0;
    uint64_t bytes = 0;
    uint64_t cloned_files = 0;  // shared with the source (FICLONE) instead of copied
};

// Copies the directory `source_dir_fd` into a new directory `name` in `dest_parent_fd` (which
// must not exist). Throws an Error naming the path that could not be copied; what was copied
// so far stays (the caller removes the pod directory).
TreeCopyStats copy_tree(int source_dir_fd, int dest_parent_fd, const std::string& name,
                        const TreeCopyOptions& options = {});

// The owner (uid or gid) `id` of `path` moved by `shift`, or unchanged without one. Throws an
// Error naming the path when the id is outside the shift's range.
uint32_t shifted_id(const std::optional<IdShift>& shift, uint32_t id, const std::string& path);

}  // namespace rkt
