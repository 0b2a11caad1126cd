// virtio-net over a tap fd: frames the guest sends go to the tap, frames read from the tap go to
// the guest's receive buffers, a frame spanning several of them (mergeable receive buffers).
//
// A tap opened with IFF_VNET_HDR carries the 12-byte virtio-net header itself, so it is passed
// through both ways and the tap's offloads are offered to the guest: checksum offload and TSO
// (IPv4, IPv6, ECN) both ways. What the guest accepts for receive (GUEST_*) is what the tap is
// then allowed to hand us (TUNSETOFFLOAD), as QEMU and Firecracker do. A plain tap gets no
// offloads: the header is stripped on the way out and zero on the way in.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "common/unique_fd.h"
#include "vmm/virtio/virtio_device.h"

namespace rkt::vmm {

namespace virtio {
// virtio 1.2, 5.1.3.
inline constexpr uint64_t kNetFeatureCsum = 1ull << 0;
inline constexpr uint64_t kNetFeatureGuestCsum = 1ull << 1;
inline constexpr uint64_t kNetFeatureMac = 1ull << 5;
inline constexpr uint64_t kNetFeatureGuestTso4 = 1ull << 7;
inline constexpr uint64_t kNetFeatureGuestTso6 = 1ull << 8;
inline constexpr uint64_t kNetFeatureGuestEcn = 1ull << 9;
inline constexpr uint64_t kNetFeatureHostTso4 = 1ull << 11;
inline constexpr uint64_t kNetFeatureHostTso6 = 1ull << 12;
inline constexpr uint64_t kNetFeatureHostEcn = 1ull << 13;
inline constexpr uint64_t kNetFeatureMrgRxbuf = 1ull << 15;

// struct virtio_net_hdr_v1 fields.
inline constexpr uint8_t kNetHdrNeedsCsum = 1, kNetHdrDataValid = 2;
inline constexpr uint8_t kNetGsoNone = 0, kNetGsoTcpv4 = 1, kNetGsoUdp = 3, kNetGsoTcpv6 = 4,
                         kNetGsoEcn = 0x80;
}  // namespace virtio

class NetDevice : public VirtioDevice {
public:
    static constexpr size_t kHeaderSize = 12;  // struct virtio_net_hdr_v1
    // The largest frame either way: a 64 KiB GSO packet with its Ethernet (and VLAN) header.
    static constexpr size_t kMaxFrame = kHeaderSize + 65535 + 18;

    // `tap_fd` is duplicated and made non-blocking. `mac` defaults to a locally administered
    // address derived from the fd's inode.
    explicit NetDevice(int tap_fd, std::optional<std::array<uint8_t, 6>> mac = std::nullopt);
    ~NetDevice() override;

    uint32_t device_id() const override { return virtio::kDeviceIdNet; }
    uint64_t features() const override { return offered_; }
    size_t queue_count() const override { return 2; }
    void read_config(uint64_t offset, std::span<uint8_t> data) override;
    void activate(ActivationContext context) override;
    void process_queue(size_t index) override;
    void reset() override;
    void attach(EventLoop& loop) override;

    void on_tap_event(uint32_t events);
    const std::array<uint8_t, 6>& mac() const { return mac_; }
    // Whether the tap carries virtio-net headers (IFF_VNET_HDR), and the TUN_F_* offloads it
    // accepted when probed (for tests and logs).
    bool vnet_header() const { return vnet_header_; }
    unsigned tap_offloads() const { return tap_offloads_; }
    // Frames lost: too large for the guest's buffers, refused by the tap, or with a header the
    // negotiated features do not allow.
    uint64_t dropped();

private:
    void receive_from_tap();
    // Puts the pending frame into the guest's buffers; false when it must wait for more.
    bool deliver_pending();
    void transmit_to_tap();
    bool transmit_header_allowed(const uint8_t* header) const;
    void set_tap_offloads(unsigned offloads);
    void finish();
    void update_interest();

    std::mutex mutex_;
    UniqueFd tap_;
    bool vnet_header_ = false;  // the tap itself adds/expects virtio-net headers
    unsigned tap_offloads_ = 0;
    uint64_t offered_ = 0;
    std::array<uint8_t, 6> mac_{};
    EventLoop* loop_ = nullptr;
    bool registered_ = false;
    std::optional<ActivationContext> active_;
    uint64_t acked_ = 0;
    // frame_[0, pending_) holds a frame read from the tap, header first, that found no room yet.
    std::vector<uint8_t> frame_;
    size_t pending_ = 0;
    std::vector<DescriptorChain> chains_;  // scratch for one mergeable frame
    bool used_rx_ = false, used_tx_ = false;
    uint64_t dropped_ = 0;
};

}  // namespace rkt::vmm
