// What a virtio device (blk, console, net) implements; the MMIO transport does the rest.
// Devices are driven from two threads — register accesses from vCPUs (config, activate, reset)
// and queue work from the event thread — so each device serialises itself with its own mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "vmm/bus/interrupt_line.h"
#include "vmm/kvm/guest_memory.h"
#include "vmm/virtio/virtqueue.h"

namespace rkt {
class EventLoop;
}

namespace rkt::vmm {

namespace virtio {
inline constexpr uint32_t kDeviceIdNet = 1;
inline constexpr uint32_t kDeviceIdBlock = 2;
inline constexpr uint32_t kDeviceIdConsole = 3;

inline constexpr uint64_t kFeatureVersion1 = 1ull << 32;

inline constexpr uint32_t kInterruptUsedBuffer = 1;
inline constexpr uint32_t kInterruptConfigChange = 2;
}  // namespace virtio

// The device's way to reach the guest: interrupts, and reporting that the guest broke a queue.
class VirtioInterrupt {
public:
    explicit VirtioInterrupt(InterruptLine& line) : line_(line) {}

    void signal_used_queue() { raise(virtio::kInterruptUsedBuffer); }
    void signal_config_change() { raise(virtio::kInterruptConfigChange); }
    // The guest corrupted a queue: the transport shows DEVICE_NEEDS_RESET and tells the guest.
    void report_broken() {
        needs_reset_.store(true);
        signal_config_change();
    }

    uint32_t status() const { return status_.load(); }
    void acknowledge(uint32_t bits) { status_.fetch_and(~bits); }
    bool needs_reset() const { return needs_reset_.load(); }
    void clear() {
        status_.store(0);
        needs_reset_.store(false);
    }

private:
    void raise(uint32_t bit) {
        status_.fetch_or(bit);
        line_.trigger();
    }
    InterruptLine& line_;
    std::atomic<uint32_t> status_{0};
    std::atomic<bool> needs_reset_{false};
};

struct ActivationContext {
    const GuestMemory& memory;
    std::vector<Virtqueue> queues;
    VirtioInterrupt& interrupt;
    uint64_t acked_features;
};

class VirtioDevice {
public:
    virtual ~VirtioDevice() = default;

    virtual uint32_t device_id() const = 0;
    // Offered features; VERSION_1 is added by the transport.
    virtual uint64_t features() const = 0;
    virtual size_t queue_count() const = 0;
    virtual QueueLimits queue_limits() const { return {}; }

    // Config space; reads past its end return zeros, writes there are ignored.
    virtual void read_config(uint64_t offset, std::span<uint8_t> data) = 0;
    virtual void write_config(uint64_t /*offset*/, std::span<const uint8_t> /*data*/) {}

    // The driver set DRIVER_OK with valid queues.
    virtual void activate(ActivationContext context) = 0;
    // The guest notified queue `index` (ioeventfd or a QueueNotify write).
    virtual void process_queue(size_t index) = 0;
    // The driver wrote 0 to status: forget the activation.
    virtual void reset() = 0;
    // Registers host-side fds (console sockets, tap) with the event thread.
    virtual void attach(EventLoop& /*loop*/) {}

protected:
    // Helper for config reads from a byte image of the config structure.
    static void copy_config(std::span<const uint8_t> image, uint64_t offset,
                            std::span<uint8_t> out);
};

}  // namespace rkt::vmm
