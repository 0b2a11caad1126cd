// virtio-blk over a host file: reads, writes (refused with IOERR on a read-only disk), flush and
// get-id. I/O is synchronous on the event thread, like Firecracker's default engine.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "vmm/virtio/virtio_device.h"

namespace rkt::vmm {

struct BlockDiskConfig {
    std::string path;
    bool read_only = true;
    std::string serial;  // VIRTIO_BLK_T_GET_ID answer (at most 20 bytes); default: file name
};

class BlockDevice : public VirtioDevice {
public:
    static constexpr uint32_t kSectorSize = 512;

    // Opens the disk (read-only disks with O_RDONLY). Throws an Error naming the path.
    explicit BlockDevice(const BlockDiskConfig& config);

    uint32_t device_id() const override { return virtio::kDeviceIdBlock; }
    uint64_t features() const override;
    size_t queue_count() const override { return 1; }
    void read_config(uint64_t offset, std::span<uint8_t> data) override;
    void activate(ActivationContext context) override;
    void process_queue(size_t index) override;
    void reset() override;

    uint64_t capacity_sectors() const { return capacity_sectors_; }

private:
    // Handles one request; returns the bytes written into the chain's writable part.
    uint32_t handle_request(const DescriptorChain& chain);

    std::mutex mutex_;
    UniqueFd fd_;
    bool read_only_;
    std::string serial_;
    uint64_t capacity_sectors_ = 0;
    std::optional<ActivationContext> active_;
};

}  // namespace rkt::vmm
