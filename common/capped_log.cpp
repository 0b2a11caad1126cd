#include "common/capped_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"

namespace rkt {

CappedLog::CappedLog(UniqueFd current, UniqueFd previous, uint64_t limit)
    : current_(std::move(current)), previous_(std::move(previous)), limit_(limit ? limit : 1) {
    struct stat st {};
    if (current_ && ::fstat(current_.get(), &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
}

CappedLog CappedLog::open(const std::filesystem::path& path, uint64_t limit, mode_t mode) {
    UniqueFd current =
        fs::open_file(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, mode);
    std::filesystem::path old = path;
    old += ".1";
    UniqueFd previous = fs::open_file(old, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
    return CappedLog(std::move(current), std::move(previous), limit);
}

bool CappedLog::rotate() noexcept {
    if (previous_) {
        if (::ftruncate(previous_.get(), 0) != 0) return false;
        loff_t in = 0, out = 0;
        uint64_t left = size_;
        while (left > 0) {
            ssize_t n = io::retry_eintr([&] {
                return ::copy_file_range(current_.get(), &in, previous_.get(), &out, left, 0);
            });
            if (n < 0) return false;
            if (n == 0) break;  // the file is shorter than we counted: nothing more to keep
            left -= static_cast<uint64_t>(n);
        }
    }
    if (::ftruncate(current_.get(), 0) != 0) return false;
    size_ = 0;
    return true;
}

bool CappedLog::write(std::string_view data) noexcept {
    if (!current_) {
        errno = EBADF;
        return false;
    }
    if (data.size() > limit_) data = data.substr(data.size() - limit_);
    if (size_ + data.size() > limit_ && size_ > 0 && !rotate()) return false;
    bool ok = io::try_write_all(current_.get(), data);
    // Count what reached the file even on a partial failure: the limit must still hold.
    struct stat st {};
    if (::fstat(current_.get(), &st) == 0)
        size_ = static_cast<uint64_t>(st.st_size);
    else if (ok)
        size_ += data.size();
    return ok;
}

}  // namespace rkt
