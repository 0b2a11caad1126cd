#include "vmm/virtio/console.h"

#include <fcntl.h>
#include <sys/epoll.h>
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

constexpr uint64_t kFeatureMultiport = 1ull << 1;
constexpr size_t kControlReceiveQueue = 2, kControlTransmitQueue = 3;
constexpr uint16_t kDeviceReady = 0, kDeviceAdd = 1, kPortReady = 3, kConsolePort = 4,
                   kPortOpen = 6, kPortName = 7;
constexpr size_t kControlMessageSize = 8;
constexpr size_t kMaxPendingOutput = size_t{256} * 1024;
constexpr size_t kMaxPendingControl = 256;
constexpr uint64_t kMaxChainBytes = 1 << 20;

UniqueFd duplicate(int fd, bool nonblocking) {
    if (fd < 0) return {};
    UniqueFd copy(check_sys(::fcntl(fd, F_DUPFD_CLOEXEC, 3), "dup console fd"));
    if (nonblocking) {
        int flags = check_sys(::fcntl(copy.get(), F_GETFL), "fcntl");
        check_sys(::fcntl(copy.get(), F_SETFL, flags | O_NONBLOCK), "fcntl");
    }
    return copy;
}

}  // namespace

ConsoleDevice::ConsoleDevice(const std::vector<ConsolePortConfig>& ports) {
    if (ports.empty()) throw Error("virtio-console needs at least one port");
    int consoles = 0;
    bool named = false;
    for (const auto& p : ports) {
        consoles += p.console ? 1 : 0;
        named = named || !p.name.empty();
        if (p.fd >= 0 && p.output_fd >= 0)
            throw Error("a console port takes either a two-way fd or an output fd, not both");
    }
    if (consoles > 1) throw Error("virtio-console supports one console port");
    multiport_ = ports.size() > 1 || named;
    for (const auto& c : ports) {
        Port p;
        p.config = c;
        p.io = duplicate(c.fd, true);
        p.output = duplicate(c.output_fd, false);
        p.host_connected = p.io.valid() || p.output.valid();
        ports_.push_back(std::move(p));
    }
    used_.assign(ConsoleDevice::queue_count(), false);  // in the constructor: this class's own
}

ConsoleDevice::~ConsoleDevice() {
    if (!loop_) return;
    for (auto& p : ports_)
        if (p.registered) loop_->remove(p.io.get());
}

uint64_t ConsoleDevice::features() const {
    return multiport_ ? kFeatureMultiport : 0;
}

size_t ConsoleDevice::queue_count() const {
    return multiport_ ? 2 * (ports_.size() + 1) : 2;
}

void ConsoleDevice::read_config(uint64_t offset, std::span<uint8_t> data) {
    // struct virtio_console_config: cols, rows (le16), max_nr_ports (le32), emerg_wr (le32).
    uint8_t image[12] = {};
    uint32_t max_ports = static_cast<uint32_t>(ports_.size());
    std::memcpy(image + 4, &max_ports, 4);
    copy_config(image, offset, data);
}

void ConsoleDevice::attach(EventLoop& loop) {
    std::lock_guard lock(mutex_);
    loop_ = &loop;
}

void ConsoleDevice::activate(ActivationContext context) {
    std::lock_guard lock(mutex_);
    active_.emplace(std::move(context));
    used_.assign(queue_count(), false);
}

void ConsoleDevice::reset() {
    std::lock_guard lock(mutex_);
    active_.reset();
    control_out_.clear();
    for (size_t i = 0; i < ports_.size(); ++i) {
        ports_[i].guest_open = false;
        update_interest(i);
    }
}

void ConsoleDevice::update_interest(size_t index) {
    Port& p = ports_[index];
    if (!loop_ || !p.io.valid()) return;
    uint32_t want = 0;
    if (active_ && p.host_connected) {
        if (active_->queues[rx_queue(index)].has_available()) want |= EPOLLIN;
        if (!p.pending_output.empty()) want |= EPOLLOUT;
    }
    // An fd is in the epoll set only while we want something from it, so a hung-up peer
    // cannot make the event thread spin on EPOLLHUP.
    if (want == 0) {
        if (p.registered) loop_->remove(p.io.get());
        p.registered = false;
    } else if (!p.registered) {
        loop_->add(p.io.get(), want,
                   [this, index](uint32_t events) { on_host_event(index, events); });
        p.registered = true;
    } else if (want != p.registered_events) {
        loop_->modify(p.io.get(), want);
    }
    p.registered_events = want;
}

void ConsoleDevice::disconnect(size_t index) {
    Port& p = ports_[index];
    if (!p.host_connected) return;
    p.host_connected = false;
    p.pending_output.clear();
    if (multiport_) send_control(static_cast<uint32_t>(index), kPortOpen, 0);
}

bool ConsoleDevice::flush_output(Port& p) {
    int fd = p.io.valid() ? p.io.get() : p.output.get();
    while (!p.pending_output.empty()) {
        if (fd < 0) {
            p.pending_output.clear();
            break;
        }
        ssize_t n = io::retry_eintr(
            [&] { return ::write(fd, p.pending_output.data(), p.pending_output.size()); });
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        if (n <= 0) return false;
        p.pending_output.erase(0, static_cast<size_t>(n));
    }
    return true;
}

void ConsoleDevice::transmit_to_host(size_t index) {
    Port& p = ports_[index];
    Virtqueue& queue = active_->queues[tx_queue(index)];
    while (p.pending_output.size() < kMaxPendingOutput) {
        auto chain = queue.pop();
        if (!chain) break;
        if (chain->ok() && p.host_connected && chain->readable_bytes <= kMaxChainBytes) {
            size_t old = p.pending_output.size();
            p.pending_output.resize(old + chain->readable_bytes);
            if (!read_chain(active_->memory, *chain, 0,
                            {reinterpret_cast<uint8_t*>(p.pending_output.data()) + old,
                             chain->readable_bytes}))
                p.pending_output.resize(old);
        }
        queue.add_used(chain->head, 0);
        used_[tx_queue(index)] = true;
    }
    if (!flush_output(p)) disconnect(index);
}

void ConsoleDevice::receive_from_host(size_t index) {
    Port& p = ports_[index];
    Virtqueue& queue = active_->queues[rx_queue(index)];
    while (p.host_connected && p.io.valid()) {
        auto chain = queue.pop();
        if (!chain) break;
        if (!chain->ok() || chain->writable_bytes == 0) {
            queue.add_used(chain->head, 0);
            used_[rx_queue(index)] = true;
            continue;
        }
        auto slices = chain_slices(active_->memory, chain->writable, 0, chain->writable_bytes);
        std::vector<iovec> iov;
        iov.reserve(slices.size());
        for (auto s : slices) iov.push_back({s.data(), s.size()});
        ssize_t n = ::readv(p.io.get(), iov.data(), static_cast<int>(iov.size()));
        if (n < 0 && errno == EINTR) {
            queue.undo_pop();
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            queue.undo_pop();
            break;
        }
        if (n <= 0) {  // EOF or error: the host side went away
            queue.undo_pop();
            disconnect(index);
            break;
        }
        queue.add_used(chain->head, static_cast<uint32_t>(n));
        used_[rx_queue(index)] = true;
    }
}

void ConsoleDevice::send_control(uint32_t id, uint16_t event, uint16_t value,
                                 const std::string& extra) {
    if (control_out_.size() >= kMaxPendingControl) return;  // a driver that never reads
    std::vector<uint8_t> message(kControlMessageSize + extra.size());
    std::memcpy(message.data(), &id, 4);
    std::memcpy(message.data() + 4, &event, 2);
    std::memcpy(message.data() + 6, &value, 2);
    std::memcpy(message.data() + kControlMessageSize, extra.data(), extra.size());
    control_out_.push_back(std::move(message));
}

void ConsoleDevice::handle_control_messages() {
    Virtqueue& queue = active_->queues[kControlTransmitQueue];
    while (auto chain = queue.pop()) {
        uint8_t raw[kControlMessageSize];
        if (chain->ok() && read_chain(active_->memory, *chain, 0, raw)) {
            uint32_t id;
            uint16_t event, value;
            std::memcpy(&id, raw, 4);
            std::memcpy(&event, raw + 4, 2);
            std::memcpy(&value, raw + 6, 2);
            if (event == kDeviceReady && value == 1) {
                for (size_t i = 0; i < ports_.size(); ++i)
                    send_control(static_cast<uint32_t>(i), kDeviceAdd, 0);
            } else if (event == kPortReady && value == 1 && id < ports_.size()) {
                const Port& p = ports_[id];
                if (p.config.console) send_control(id, kConsolePort, 1);
                if (!p.config.name.empty()) send_control(id, kPortName, 0, p.config.name);
                if (p.host_connected) send_control(id, kPortOpen, 1);
            } else if (event == kPortOpen && id < ports_.size()) {
                ports_[id].guest_open = value == 1;
            }
        }
        queue.add_used(chain->head, 0);
        used_[kControlTransmitQueue] = true;
    }
}

void ConsoleDevice::deliver_control_messages() {
    Virtqueue& queue = active_->queues[kControlReceiveQueue];
    while (!control_out_.empty()) {
        auto chain = queue.pop();
        if (!chain) break;
        const auto& message = control_out_.front();
        uint32_t written = 0;
        if (chain->ok() && chain->writable_bytes >= message.size() &&
            write_chain(active_->memory, *chain, 0, message))
            written = static_cast<uint32_t>(message.size());
        // A buffer too small for the message still consumes it: the driver sized it wrongly.
        control_out_.pop_front();
        queue.add_used(chain->head, written);
        used_[kControlReceiveQueue] = true;
    }
}

void ConsoleDevice::finish_queues() {
    bool broken = false;
    bool notify = false;
    for (size_t q = 0; q < active_->queues.size(); ++q) {
        auto& queue = active_->queues[q];
        if (queue.broken()) {
            log::debug("virtio-console: queue " + std::to_string(q) +
                       " broken: " + queue.broken_reason());
            broken = true;
        }
        if (used_[q] && queue.needs_interrupt()) notify = true;
        used_[q] = false;
    }
    if (broken)
        active_->interrupt.report_broken();
    else if (notify)
        active_->interrupt.signal_used_queue();
    for (size_t i = 0; i < ports_.size(); ++i) update_interest(i);
}

void ConsoleDevice::process_queue(size_t index) {
    std::lock_guard lock(mutex_);
    if (!active_ || index >= active_->queues.size()) return;
    if (multiport_ && index == kControlTransmitQueue) {
        handle_control_messages();
        deliver_control_messages();
    } else if (multiport_ && index == kControlReceiveQueue) {
        deliver_control_messages();
    } else {
        size_t port = index < 2 ? 0 : (index - 2) / 2;
        if (port < ports_.size()) {
            if (index == rx_queue(port))
                receive_from_host(port);
            else
                transmit_to_host(port);
        }
    }
    finish_queues();
}

void ConsoleDevice::on_host_event(size_t index, uint32_t events) {
    std::lock_guard lock(mutex_);
    if (!active_ || index >= ports_.size()) return;
    Port& p = ports_[index];
    if (events & EPOLLOUT) {
        if (!flush_output(p))
            disconnect(index);
        else if (p.pending_output.empty())
            transmit_to_host(index);  // the guest may have more
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) receive_from_host(index);
    if (multiport_) deliver_control_messages();
    finish_queues();
}

}  // namespace rkt::vmm
