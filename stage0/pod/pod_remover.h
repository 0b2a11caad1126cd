// Deleting pods: stage1's gc, unmounting whatever is left under the pod directory, and removing
// it without ever crossing into another file system (a host volume must never be touched).
#pragma once

#include <string>

#include "stage0/context.h"

namespace rkt {

// Sweeps one pod in exited-garbage/ or garbage/: takes its lock (returns false when busy), runs
// stage1 gc, unmounts and removes it.
bool sweep_pod(Context& ctx, const pod::Pod& pod);

// Unmounts every mount point at or below `dir` (deepest first, lazily).
void unmount_below(const std::filesystem::path& dir);
// Removes `dir` recursively, refusing to descend into other file systems or follow symlinks.
void remove_same_fs_tree(const std::filesystem::path& dir);

}  // namespace rkt
