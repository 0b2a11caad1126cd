// flock(2) on a directory or file, held for the lifetime of the object (or handed over as an fd,
// as stage0 does with a pod's lock when it execs stage1).
#pragma once

#include <filesystem>

#include "common/unique_fd.h"

namespace rkt {

class FileLock {
public:
    enum class Mode { kShared, kExclusive };

    // Blocks until the lock is taken.
    static FileLock acquire(const std::filesystem::path& path, Mode mode);
    // Returns an invalid lock (valid() == false) when someone else holds a conflicting lock.
    static FileLock try_acquire(const std::filesystem::path& path, Mode mode);
    // Takes over an fd that already holds a lock (e.g. RKT_LOCK_FD).
    static FileLock adopt(UniqueFd fd) { return FileLock(std::move(fd)); }

    FileLock() = default;
    bool valid() const { return fd_.valid(); }
    int fd() const { return fd_.get(); }
    UniqueFd release() { return std::move(fd_); }
    // Changes mode on the same fd (flock conversion; not atomic, as flock documents).
    void convert(Mode mode);

private:
    explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

}  // namespace rkt
