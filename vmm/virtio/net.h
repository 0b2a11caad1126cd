// virtio-net over a tap fd: frames the guest sends go to the tap, frames read from the tap go to
// the guest's receive buffers. No offloads are offered, so the 12-byte virtio-net header carries
// nothing: it is stripped on the way out and zero on the way in (or passed through when the tap
// was opened with IFF_VNET_HDR).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "common/unique_fd.h"
#include "vmm/virtio/virtio_device.h"

namespace rkt::vmm {

class NetDevice : public VirtioDevice {
public:
    static constexpr size_t kHeaderSize = 12;  // struct virtio_net_hdr_v1

    // `tap_fd` is duplicated and made non-blocking. `mac` defaults to a locally administered
    // address derived from the fd's inode.
    explicit NetDevice(int tap_fd, std::optional<std::array<uint8_t, 6>> mac = std::nullopt);
    ~NetDevice() override;

    uint32_t device_id() const override { return virtio::kDeviceIdNet; }
    uint64_t features() const override;
    size_t queue_count() const override { return 2; }
    void read_config(uint64_t offset, std::span<uint8_t> data) override;
    void activate(ActivationContext context) override;
    void process_queue(size_t index) override;
    void reset() override;
    void attach(EventLoop& loop) override;

    void on_tap_event(uint32_t events);
    const std::array<uint8_t, 6>& mac() const { return mac_; }

private:
    void receive_from_tap();
    void transmit_to_tap();
    void finish();
    void update_interest();

    std::mutex mutex_;
    UniqueFd tap_;
    bool vnet_header_ = false;  // the tap itself adds/expects virtio-net headers
    std::array<uint8_t, 6> mac_{};
    EventLoop* loop_ = nullptr;
    bool registered_ = false;
    std::optional<ActivationContext> active_;
    std::vector<uint8_t> frame_;
    bool used_rx_ = false, used_tx_ = false;
    uint64_t dropped_ = 0;
};

}  // namespace rkt::vmm
