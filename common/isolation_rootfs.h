// Paths inside an app's root file system, resolved without ever leaving it. An image is hostile:
// its /etc/passwd, or the directory a volume is mounted on, may be a symlink meant to lead the
// (privileged) runtime out to the host. Here every component is opened with O_NOFOLLOW below a
// directory fd; an absolute symlink restarts at the root (as it would after chroot), and a ".."
// that would climb above the root is an error.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace rkt::rootfs {

enum class Create {
    kNothing,    // every component must exist
    kDirectory,  // missing components become directories (mode `mode`, exactly, not umasked)
    kFile,       // missing parents become directories; a missing last component an empty file
};

struct Resolved {
    UniqueFd parent;   // the directory that holds the last component (O_PATH)
    std::string name;  // the last component ("." when the path is the root itself)
    UniqueFd fd;       // the object itself (O_PATH); invalid when it does not exist
};

// Resolves `path` (absolute or not, always taken inside the root) below `root_fd`. A symlink as
// the last component is followed unless `follow_last` is false. With Create::kNothing a missing
// component gives an invalid `fd` (and an invalid `parent` unless only the last is missing).
// Throws an Error naming `path` when it leads out of the root, loops, or cannot be created.
Resolved resolve(int root_fd, std::string_view path, Create create = Create::kNothing,
                 mode_t mode = 0755, bool follow_last = true);

// open(2) of `path` inside the root with `flags` (O_CLOEXEC and O_NOFOLLOW are added; the
// last symlink is resolved inside the root first). Throws an Error naming `path`.
UniqueFd open(int root_fd, std::string_view path, int flags, mode_t mode = 0);

// Reads a regular file inside the root, at most `limit` bytes; a missing file throws.
std::string read_file(int root_fd, std::string_view path, size_t limit);
// Whether `path` exists inside the root; a path that leads out of it throws.
bool exists(int root_fd, std::string_view path);

}  // namespace rkt::rootfs
