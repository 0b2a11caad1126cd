#include "common/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include "common/error.h"
#include "common/io.h"

namespace rkt {
namespace {
UniqueFd open_for_lock(const std::filesystem::path& path) {
    // Directories are opened read-only; files are created if missing.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw system_error("cannot open lock " + path.string());
    return UniqueFd(fd);
}
int flock_op(FileLock::Mode mode) {
    return mode == FileLock::Mode::kShared ? LOCK_SH : LOCK_EX;
}
}  // namespace

FileLock FileLock::acquire(const std::filesystem::path& path, Mode mode) {
    UniqueFd fd = open_for_lock(path);
    if (io::retry_eintr([&] { return ::flock(fd.get(), flock_op(mode)); }) < 0)
        throw system_error("cannot lock " + path.string());
    return FileLock(std::move(fd));
}

FileLock FileLock::try_acquire(const std::filesystem::path& path, Mode mode) {
    UniqueFd fd = open_for_lock(path);
    if (::flock(fd.get(), flock_op(mode) | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) return FileLock();
        throw system_error("cannot lock " + path.string());
    }
    return FileLock(std::move(fd));
}

void FileLock::convert(Mode mode) {
    if (io::retry_eintr([&] { return ::flock(fd_.get(), flock_op(mode)); }) < 0)
        throw system_error("cannot change lock mode");
}

}  // namespace rkt
