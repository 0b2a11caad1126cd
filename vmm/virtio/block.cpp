#include "vmm/virtio/block.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "common/io.h"
#include "common/log.h"

namespace rkt::vmm {
namespace {

constexpr uint64_t kFeatureSegMax = 1ull << 2;
constexpr uint64_t kFeatureReadOnly = 1ull << 5;
constexpr uint64_t kFeatureFlush = 1ull << 9;

constexpr uint32_t kRequestIn = 0, kRequestOut = 1, kRequestFlush = 4, kRequestGetId = 8;
constexpr uint8_t kStatusOk = 0, kStatusIoError = 1, kStatusUnsupported = 2;
constexpr size_t kIdBytes = 20;
constexpr size_t kMaxIovecs = 1024;

struct RequestHeader {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

// preadv/pwritev the whole range, retrying short transfers; false on error or EOF.
template <typename Op>
bool transfer_all(Op op, std::vector<iovec> iov, uint64_t offset) {
    size_t first = 0;
    while (first < iov.size()) {
        int count = static_cast<int>(std::min(iov.size() - first, kMaxIovecs));
        ssize_t n = io::retry_eintr(
            [&] { return op(iov.data() + first, count, static_cast<off_t>(offset)); });
        if (n <= 0) return false;
        offset += static_cast<uint64_t>(n);
        auto done = static_cast<size_t>(n);
        while (first < iov.size() && done >= iov[first].iov_len) done -= iov[first++].iov_len;
        if (first < iov.size()) {
            iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + done;
            iov[first].iov_len -= done;
        }
    }
    return true;
}

std::vector<iovec> to_iovecs(const std::vector<std::span<uint8_t>>& slices) {
    std::vector<iovec> iov;
    iov.reserve(slices.size());
    for (auto s : slices) iov.push_back({s.data(), s.size()});
    return iov;
}

}  // namespace

BlockDevice::BlockDevice(const BlockDiskConfig& config) : read_only_(config.read_only) {
    int fd = ::open(config.path.c_str(), (read_only_ ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) throw system_error("cannot open disk " + config.path);
    fd_.reset(fd);
    struct stat st {};
    check_sys(::fstat(fd, &st), "stat " + config.path);
    uint64_t bytes = 0;
    if (S_ISREG(st.st_mode)) {
        bytes = static_cast<uint64_t>(st.st_size);
    } else if (S_ISBLK(st.st_mode)) {
        off_t end = ::lseek(fd, 0, SEEK_END);
        if (end < 0) throw system_error("cannot size disk " + config.path);
        bytes = static_cast<uint64_t>(end);
    } else {
        throw Error("disk " + config.path + " is neither a regular file nor a block device");
    }
    // A trailing partial sector is not addressable by the guest.
    capacity_sectors_ = bytes / kSectorSize;
    serial_ = config.serial.empty() ? std::filesystem::path(config.path).filename().string()
                                    : config.serial;
    if (serial_.size() > kIdBytes) serial_.resize(kIdBytes);
}

uint64_t BlockDevice::features() const {
    return kFeatureSegMax | (read_only_ ? kFeatureReadOnly : kFeatureFlush);
}

void BlockDevice::read_config(uint64_t offset, std::span<uint8_t> data) {
    // struct virtio_blk_config: capacity (le64), size_max (le32), seg_max (le32).
    uint8_t image[16] = {};
    uint32_t seg_max = queue_limits().max_size - 2;
    std::memcpy(image, &capacity_sectors_, 8);
    std::memcpy(image + 12, &seg_max, 4);
    copy_config(image, offset, data);
}

void BlockDevice::activate(ActivationContext context) {
    std::lock_guard lock(mutex_);
    active_.emplace(std::move(context));
}

void BlockDevice::reset() {
    std::lock_guard lock(mutex_);
    active_.reset();
}

uint32_t BlockDevice::handle_request(const DescriptorChain& chain) {
    const GuestMemory& memory = active_->memory;
    // The last writable byte is the status; everything before it (if any) is data.
    if (chain.writable_bytes == 0) return 0;
    uint64_t status_offset = chain.writable_bytes - 1;
    auto finish = [&](uint8_t status, uint64_t data_written) -> uint32_t {
        if (!write_chain(memory, chain, status_offset, {&status, 1})) return 0;
        return static_cast<uint32_t>(data_written + 1);
    };

    RequestHeader header{};
    if (!read_chain(memory, chain, 0, {reinterpret_cast<uint8_t*>(&header), sizeof header}))
        return finish(kStatusIoError, 0);

    auto in_range = [&](uint64_t bytes) {
        uint64_t capacity_bytes = capacity_sectors_ * kSectorSize;
        return header.sector <= capacity_sectors_ &&
               bytes <= capacity_bytes - header.sector * kSectorSize;
    };

    switch (header.type) {
        case kRequestIn: {
            uint64_t length = status_offset;
            if (length % kSectorSize != 0 || !in_range(length)) return finish(kStatusIoError, 0);
            auto iov = to_iovecs(chain_slices(memory, chain.writable, 0, length));
            if (length > 0 && !transfer_all([&](const iovec* v, int n,
                                                off_t o) { return ::preadv(fd_.get(), v, n, o); },
                                            iov, header.sector * kSectorSize))
                return finish(kStatusIoError, 0);
            return finish(kStatusOk, length);
        }
        case kRequestOut: {
            if (read_only_) return finish(kStatusIoError, 0);
            uint64_t length = chain.readable_bytes - sizeof header;
            if (chain.readable_bytes < sizeof header || length % kSectorSize != 0 ||
                !in_range(length))
                return finish(kStatusIoError, 0);
            auto iov = to_iovecs(chain_slices(memory, chain.readable, sizeof header, length));
            if (length > 0 && !transfer_all([&](const iovec* v, int n,
                                                off_t o) { return ::pwritev(fd_.get(), v, n, o); },
                                            iov, header.sector * kSectorSize))
                return finish(kStatusIoError, 0);
            return finish(kStatusOk, 0);
        }
        case kRequestFlush:
            if (read_only_) return finish(kStatusOk, 0);
            return finish(::fdatasync(fd_.get()) == 0 ? kStatusOk : kStatusIoError, 0);
        case kRequestGetId: {
            uint8_t id[kIdBytes] = {};
            std::memcpy(id, serial_.data(), serial_.size());
            uint64_t n = std::min<uint64_t>(status_offset, kIdBytes);
            if (!write_chain(memory, chain, 0, {id, n})) return finish(kStatusIoError, 0);
            return finish(kStatusOk, n);
        }
        default:
            return finish(kStatusUnsupported, 0);
    }
}

void BlockDevice::process_queue(size_t index) {
    std::lock_guard lock(mutex_);
    if (!active_ || index != 0) return;
    Virtqueue& queue = active_->queues[0];
    bool used = false;
    while (auto chain = queue.pop()) {
        uint32_t written = 0;
        if (chain->ok()) {
            written = handle_request(*chain);
        } else {
            log::debug("virtio-blk: refusing a request: " + chain->error);
        }
        queue.add_used(chain->head, written);
        used = true;
    }
    if (queue.broken()) {
        log::debug("virtio-blk: queue broken: " + queue.broken_reason());
        active_->interrupt.report_broken();
        return;
    }
    if (used && queue.needs_interrupt()) active_->interrupt.signal_used_queue();
}

}  // namespace rkt::vmm
