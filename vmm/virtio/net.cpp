#include "vmm/virtio/net.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/event_loop.h"
#include "common/io.h"
#include "common/log.h"

namespace rkt::vmm {
namespace {

constexpr uint64_t kFeatureMac = 1ull << 5;
constexpr size_t kRxQueue = 0, kTxQueue = 1;
constexpr size_t kMaxFrame = 65536 + NetDevice::kHeaderSize;

}  // namespace

NetDevice::NetDevice(int tap_fd, std::optional<std::array<uint8_t, 6>> mac) {
    tap_.reset(check_sys(::fcntl(tap_fd, F_DUPFD_CLOEXEC, 3), "dup tap fd"));
    int flags = check_sys(::fcntl(tap_.get(), F_GETFL), "fcntl");
    check_sys(::fcntl(tap_.get(), F_SETFL, flags | O_NONBLOCK), "fcntl");
    ifreq ifr{};
    if (::ioctl(tap_.get(), TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_VNET_HDR)) {
        int size = static_cast<int>(kHeaderSize);
        check_sys(::ioctl(tap_.get(), TUNSETVNETHDRSZ, &size), "TUNSETVNETHDRSZ");
        vnet_header_ = true;
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

uint64_t NetDevice::features() const {
    return kFeatureMac;
}

void NetDevice::read_config(uint64_t offset, std::span<uint8_t> data) {
    // struct virtio_net_config: mac[6], status (le16, only with VIRTIO_NET_F_STATUS).
    copy_config(mac_, offset, data);
}

void NetDevice::attach(EventLoop& loop) {
    std::lock_guard lock(mutex_);
    loop_ = &loop;
}

void NetDevice::activate(ActivationContext context) {
    std::lock_guard lock(mutex_);
    active_.emplace(std::move(context));
}

void NetDevice::reset() {
    std::lock_guard lock(mutex_);
    active_.reset();
    update_interest();
}

void NetDevice::update_interest() {
    if (!loop_) return;
    bool want = active_ && active_->queues[kRxQueue].has_available();
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
    while (queue.has_available()) {
        size_t offset = vnet_header_ ? 0 : kHeaderSize;
        ssize_t n = io::read_some(tap_.get(), frame_.data() + offset, frame_.size() - offset);
        if (n <= 0) break;  // EAGAIN: nothing more; errors: try again on the next event
        size_t length = offset + static_cast<size_t>(n);
        if (!vnet_header_) std::memset(frame_.data(), 0, kHeaderSize);
        // VERSION_1 headers carry num_buffers, which is 1 without mergeable buffers.
        frame_[10] = 1;
        frame_[11] = 0;
        auto chain = queue.pop();
        if (!chain) break;
        uint32_t written = 0;
        if (chain->ok() && chain->writable_bytes >= length &&
            write_chain(active_->memory, *chain, 0, {frame_.data(), length})) {
            written = static_cast<uint32_t>(length);
        } else {
            ++dropped_;  // a buffer too small for the frame: the frame is lost, as on a wire
        }
        queue.add_used(chain->head, written);
        used_rx_ = true;
    }
}

void NetDevice::transmit_to_tap() {
    Virtqueue& queue = active_->queues[kTxQueue];
    while (auto chain = queue.pop()) {
        if (chain->ok() && chain->readable_bytes > kHeaderSize &&
            chain->readable_bytes <= kMaxFrame) {
            size_t skip = vnet_header_ ? 0 : kHeaderSize;
            auto slices =
                chain_slices(active_->memory, chain->readable, skip, chain->readable_bytes - skip);
            std::vector<iovec> iov;
            iov.reserve(slices.size());
            for (auto s : slices) iov.push_back({s.data(), s.size()});
            ssize_t n = io::retry_eintr(
                [&] { return ::writev(tap_.get(), iov.data(), static_cast<int>(iov.size())); });
            if (n < 0) ++dropped_;  // a full tap drops, like a full NIC queue
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
