#include "vmm/virtio/net.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/event_loop.h"
#include "common/io.h"
#include "common/log.h"

namespace rkt::vmm {
namespace {

using namespace virtio;

constexpr size_t kRxQueue = 0, kTxQueue = 1;
constexpr size_t kNumBuffersOffset = 10;

// UFO is left out on purpose: Linux hosts since 4.14 accept TUN_F_UFO and ignore it, so a
// successful TUNSETOFFLOAD says nothing about it.
constexpr unsigned kTapOffloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;

}  // namespace

NetDevice::NetDevice(int tap_fd, std::optional<std::array<uint8_t, 6>> mac) {
    tap_.reset(check_sys(::fcntl(tap_fd, F_DUPFD_CLOEXEC, 3), "dup tap fd"));
    int flags = check_sys(::fcntl(tap_.get(), F_GETFL), "fcntl");
    check_sys(::fcntl(tap_.get(), F_SETFL, flags | O_NONBLOCK), "fcntl");
    offered_ = kNetFeatureMac | kNetFeatureMrgRxbuf;
    ifreq ifr{};
    if (::ioctl(tap_.get(), TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_VNET_HDR)) {
        int size = static_cast<int>(kHeaderSize);
        check_sys(::ioctl(tap_.get(), TUNSETVNETHDRSZ, &size), "TUNSETVNETHDRSZ");
        vnet_header_ = true;
        // What the tap can hand us: all of it, else checksums only (a kernel without TSO for
        // taps), else nothing. It hands us none until the guest says what it takes.
        if (::ioctl(tap_.get(), TUNSETOFFLOAD, kTapOffloads) == 0)
            tap_offloads_ = kTapOffloads;
        else if (::ioctl(tap_.get(), TUNSETOFFLOAD, TUN_F_CSUM) == 0)
            tap_offloads_ = TUN_F_CSUM;
        check_sys(::ioctl(tap_.get(), TUNSETOFFLOAD, 0u), "TUNSETOFFLOAD");
        // A tap with headers takes checksum-offloaded and GSO frames whatever its offloads.
        offered_ |=
            kNetFeatureCsum | kNetFeatureHostTso4 | kNetFeatureHostTso6 | kNetFeatureHostEcn;
        if (tap_offloads_ & TUN_F_CSUM) offered_ |= kNetFeatureGuestCsum;
        if (tap_offloads_ & TUN_F_TSO4) offered_ |= kNetFeatureGuestTso4;
        if (tap_offloads_ & TUN_F_TSO6) offered_ |= kNetFeatureGuestTso6;
        if (tap_offloads_ & TUN_F_TSO_ECN) offered_ |= kNetFeatureGuestEcn;
    }
    if (mac) {
        mac_ = *mac;
    } else {
        struct stat st {};
        ::fstat(tap_.get(), &st);
        uint64_t seed = static_cast<uint64_t>(st.st_ino) * 0x9e3779b97f4a7c15ull;
        mac_ = {0x02,
                0x52,
                static_cast<uint8_t>(seed >> 8),
                static_cast<uint8_t>(seed >> 16),
                static_cast<uint8_t>(seed >> 24),
                static_cast<uint8_t>(seed >> 32)};
    }
    frame_.resize(kMaxFrame);
}

NetDevice::~NetDevice() {
    if (loop_ && registered_) loop_->remove(tap_.get());
}

uint64_t NetDevice::dropped() {
    std::lock_guard lock(mutex_);
    return dropped_;
}

void NetDevice::read_config(uint64_t offset, std::span<uint8_t> data) {
    // struct virtio_net_config: mac[6], status (le16, only with VIRTIO_NET_F_STATUS).
    copy_config(mac_, offset, data);
}

void NetDevice::attach(EventLoop& loop) {
    std::lock_guard lock(mutex_);
    loop_ = &loop;
}

void NetDevice::set_tap_offloads(unsigned offloads) {
    if (!vnet_header_) return;
    // Runs on a vCPU thread (status writes): its seccomp filter allows this one tap ioctl.
    if (::ioctl(tap_.get(), TUNSETOFFLOAD, offloads) != 0)
        log::warn("virtio-net: cannot set the tap's offloads: " +
                  std::string(std::strerror(errno)));
}

void NetDevice::activate(ActivationContext context) {
    std::lock_guard lock(mutex_);
    acked_ = context.acked_features;
    active_.emplace(std::move(context));
    // The tap may hand us only what the guest's driver said it can take; TSO implies checksum
    // offload (the tap ignores TSO without TUN_F_CSUM, and so does the spec).
    unsigned offloads = 0;
    if (acked_ & kNetFeatureGuestCsum) {
        offloads |= TUN_F_CSUM;
        if (acked_ & kNetFeatureGuestTso4) offloads |= TUN_F_TSO4;
        if (acked_ & kNetFeatureGuestTso6) offloads |= TUN_F_TSO6;
        if ((acked_ & kNetFeatureGuestEcn) && (offloads & (TUN_F_TSO4 | TUN_F_TSO6)))
            offloads |= TUN_F_TSO_ECN;
    }
    set_tap_offloads(offloads & tap_offloads_);
}

void NetDevice::reset() {
    std::lock_guard lock(mutex_);
    active_.reset();
    acked_ = 0;
    pending_ = 0;
    // The next driver may take less: no offloaded frame may wait in the tap for it.
    set_tap_offloads(0);
    update_interest();
}

void NetDevice::update_interest() {
    if (!loop_) return;
    // A frame waiting for buffers waits for the guest's notification, not for the tap.
    bool want = active_ && pending_ == 0 && active_->queues[kRxQueue].has_available();
    if (want && !registered_) {
        loop_->add(tap_.get(), EPOLLIN, [this](uint32_t events) { on_tap_event(events); });
        registered_ = true;
    } else if (!want && registered_) {
        loop_->remove(tap_.get());
        registered_ = false;
    }
}

void NetDevice::receive_from_tap() {
    Virtqueue& queue = active_->queues[kRxQueue];
    while (!queue.broken()) {
        if (pending_ == 0) {
            if (!queue.has_available()) break;
            size_t offset = vnet_header_ ? 0 : kHeaderSize;
            ssize_t n = io::read_some(tap_.get(), frame_.data() + offset, frame_.size() - offset);
            if (n <= 0) break;  // EAGAIN: nothing more; errors: try again on the next event
            if (static_cast<size_t>(n) + offset <= kHeaderSize) continue;  // no frame at all
            pending_ = offset + static_cast<size_t>(n);
            if (!vnet_header_) std::memset(frame_.data(), 0, kHeaderSize);
            // Without GUEST_CSUM the flags must be zero (the tap may say DATA_VALID).
            if (!(acked_ & kNetFeatureGuestCsum)) frame_[0] = 0;
        }
        if (!deliver_pending()) break;
    }
}

bool NetDevice::deliver_pending() {
    Virtqueue& queue = active_->queues[kRxQueue];
    const bool mergeable = acked_ & kNetFeatureMrgRxbuf;
    chains_.clear();
    uint64_t room = 0;
    while (room < pending_) {
        auto chain = queue.pop();
        if (!chain) {
            if (queue.broken()) {
                pending_ = 0;
                return false;
            }
            if (chains_.size() < queue.size()) {
                // More buffers may come: give these back and wait for the guest's notification.
                queue.undo_pop(static_cast<uint16_t>(chains_.size()));
                return false;
            }
            break;  // the whole ring is too small for it: drop
        }
        bool usable = chain->ok() && chain->writable_bytes > 0 &&
                      (!chains_.empty() || chain->writable_bytes >= kHeaderSize);
        if (!usable && chains_.empty() && mergeable) {
            // A buffer that cannot start a frame: return it empty and try the next.
            queue.add_used(chain->head, 0);
            used_rx_ = true;
            continue;
        }
        if (!usable) {
            queue.add_used(chain->head, 0);
            used_rx_ = true;
            break;  // drop: a frame's buffers must be consecutive in the used ring
        }
        room += chain->writable_bytes;
        chains_.push_back(std::move(*chain));
        if (!mergeable) break;
    }
    used_rx_ = used_rx_ || !chains_.empty();
    if (room < pending_) {
        // Lost, as on a wire: every buffer taken goes back empty.
        ++dropped_;
        for (const auto& c : chains_) queue.add_used(c.head, 0);
        pending_ = 0;
        return true;
    }
    uint16_t count = static_cast<uint16_t>(chains_.size());
    frame_[kNumBuffersOffset] = static_cast<uint8_t>(count);
    frame_[kNumBuffersOffset + 1] = static_cast<uint8_t>(count >> 8);
    size_t offset = 0;
    for (const auto& c : chains_) {
        size_t take = std::min<uint64_t>(c.writable_bytes, pending_ - offset);
        bool written = write_chain(active_->memory, c, 0, {frame_.data() + offset, take});
        queue.add_used(c.head, written ? static_cast<uint32_t>(take) : 0);
        offset += take;
    }
    pending_ = 0;
    return true;
}

bool NetDevice::transmit_header_allowed(const uint8_t* h) const {
    // What the negotiated features allow the driver to ask of us (virtio 1.2, 5.1.6.2.1).
    uint8_t flags = h[0], gso = h[1];
    if (flags & ~kNetHdrNeedsCsum) return false;
    if ((flags & kNetHdrNeedsCsum) && !(acked_ & kNetFeatureCsum)) return false;
    if ((gso & kNetGsoEcn) && !(acked_ & kNetFeatureHostEcn)) return false;
    switch (gso & ~kNetGsoEcn) {
        case kNetGsoNone:
            return !(gso & kNetGsoEcn);
        case kNetGsoTcpv4:
            return (acked_ & kNetFeatureHostTso4) != 0;
        case kNetGsoTcpv6:
            return (acked_ & kNetFeatureHostTso6) != 0;
        default:
            return false;  // UDP (never offered) and unknown types
    }
}

void NetDevice::transmit_to_tap() {
    Virtqueue& queue = active_->queues[kTxQueue];
    while (auto chain = queue.pop()) {
        uint8_t header[kHeaderSize];
        if (chain->ok() && chain->readable_bytes > kHeaderSize &&
            chain->readable_bytes <= kMaxFrame &&
            read_chain(active_->memory, *chain, 0, {header, kHeaderSize})) {
            if (!transmit_header_allowed(header)) {
                ++dropped_;
            } else {
                // The tap checks the rest of the header (hdr_len, csum_start, gso_size) itself.
                size_t skip = vnet_header_ ? 0 : kHeaderSize;
                auto slices = chain_slices(active_->memory, chain->readable, skip,
                                           chain->readable_bytes - skip);
                std::vector<iovec> iov;
                iov.reserve(slices.size());
                for (auto s : slices) iov.push_back({s.data(), s.size()});
                ssize_t n = io::retry_eintr(
                    [&] { return ::writev(tap_.get(), iov.data(), static_cast<int>(iov.size())); });
                if (n < 0) ++dropped_;  // a full tap or a header it refused: dropped, as on a NIC
            }
        }
        queue.add_used(chain->head, 0);
        used_tx_ = true;
    }
}

void NetDevice::finish() {
    for (size_t q : {kRxQueue, kTxQueue}) {
        if (active_->queues[q].broken()) {
            log::debug("virtio-net: queue broken: " + active_->queues[q].broken_reason());
            active_->interrupt.report_broken();
            used_rx_ = used_tx_ = false;
            pending_ = 0;
            update_interest();
            return;
        }
    }
    if ((used_rx_ && active_->queues[kRxQueue].needs_interrupt()) ||
        (used_tx_ && active_->queues[kTxQueue].needs_interrupt()))
        active_->interrupt.signal_used_queue();
    used_rx_ = used_tx_ = false;
    update_interest();
}

void NetDevice::process_queue(size_t index) {
    std::lock_guard lock(mutex_);
    if (!active_) return;
    if (index == kTxQueue)
        transmit_to_tap();
    else if (index == kRxQueue)
        receive_from_tap();
    finish();
}

void NetDevice::on_tap_event(uint32_t) {
    std::lock_guard lock(mutex_);
    if (!active_) return;
    receive_from_tap();
    finish();
}

}  // namespace rkt::vmm
