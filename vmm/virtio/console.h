// virtio-console. With one unnamed console port it is a plain console (/dev/hvc0 in the guest).
// With more ports, or any named port, it offers MULTIPORT: each port appears as /dev/vportNpM
// with its name in /sys/class/virtio-ports/vportNpM/name, and the console port (if any) as hvc.
// Each port's host side is an fd: bytes the guest writes go to it, bytes read from it go to the
// guest, with flow control both ways (no unbounded buffering).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "vmm/virtio/virtio_device.h"

namespace rkt::vmm {

struct ConsolePortConfig {
    std::string name;      // empty: unnamed
    bool console = false;  // the guest's hvc console (at most one port)
    int fd = -1;           // both ways; duplicated and made non-blocking (a socket or a pipe)
    int output_fd = -1;    // write-only alternative to `fd`, used as is (e.g. a log file)
};

class ConsoleDevice : public VirtioDevice {
public:
    explicit ConsoleDevice(const std::vector<ConsolePortConfig>& ports);
    ~ConsoleDevice() override;

    uint32_t device_id() const override { return virtio::kDeviceIdConsole; }
    uint64_t features() const override;
    size_t queue_count() const override;
    void read_config(uint64_t offset, std::span<uint8_t> data) override;
    void activate(ActivationContext context) override;
    void process_queue(size_t index) override;
    void reset() override;
    void attach(EventLoop& loop) override;

    bool multiport() const { return multiport_; }
    // The host side of port `port` is ready (what the event loop calls).
    void on_host_event(size_t port, uint32_t events);

private:
    struct Port {
        ConsolePortConfig config;
        UniqueFd io;
        UniqueFd output;
        std::string pending_output;  // guest bytes the host has not taken yet
        bool host_connected = false;
        bool guest_open = false;
        uint32_t registered_events = 0;
        bool registered = false;
    };

    size_t rx_queue(size_t port) const { return port == 0 ? 0 : 2 * port + 2; }
    size_t tx_queue(size_t port) const { return rx_queue(port) + 1; }
    void receive_from_host(size_t port);
    void transmit_to_host(size_t port);
    bool flush_output(Port& port);
    void handle_control_messages();
    void deliver_control_messages();
    void send_control(uint32_t id, uint16_t event, uint16_t value, const std::string& extra = {});
    void update_interest(size_t port);
    void finish_queues();
    void disconnect(size_t port);

    std::mutex mutex_;
    std::vector<Port> ports_;
    bool multiport_;
    EventLoop* loop_ = nullptr;
    std::optional<ActivationContext> active_;
    std::deque<std::vector<uint8_t>> control_out_;
    std::vector<bool> used_;  // per queue: chains returned since the last interrupt
};

}  // namespace rkt::vmm
