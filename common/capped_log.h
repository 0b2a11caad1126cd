// An app's log (or a VM's console) that an app cannot grow without bound: when the current
// file would pass its limit, its content moves to `<file>.1` (replacing the previous one) and
// the current file starts again empty. So a log holds between `limit` and `2 * limit` bytes of
// the newest output, whatever the app writes.
//
// It works on two open descriptors, not on paths, so a writer that cannot reach the pod
// directory by path (an nspawn pod init in a user namespace) rotates just as well: the content
// is copied (copy_file_range) and the current file truncated in place.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "common/unique_fd.h"

namespace rkt {

// Per-app log size before it rotates (Kubernetes' containerLogMaxSize is 10 MiB).
inline constexpr uint64_t kDefaultLogLimit = 8u << 20;

class CappedLog {
public:
    CappedLog() = default;
    // `current` is readable and writable (O_RDWR | O_APPEND), `previous` readable and writable
    // (O_RDWR, no O_APPEND): copy_file_range refuses an appending target.
    CappedLog(UniqueFd current, UniqueFd previous, uint64_t limit);
    // Opens (creating, mode `mode`) `path` and `path.1`; throws rkt::Error.
    static CappedLog open(const std::filesystem::path& path, uint64_t limit = kDefaultLogLimit,
                          mode_t mode = 0640);

    // Appends `data` (only its last `limit` bytes when it is longer), rotating first when it
    // would carry the file past the limit. Never throws: false on an I/O error (errno set), and
    // the log stays usable.
    bool write(std::string_view data) noexcept;

    explicit operator bool() const { return current_.valid(); }
    uint64_t size() const { return size_; }  // bytes in the current file

private:
    bool rotate() noexcept;

    UniqueFd current_, previous_;
    uint64_t limit_ = kDefaultLogLimit;
    uint64_t size_ = 0;
};

}  // namespace rkt
