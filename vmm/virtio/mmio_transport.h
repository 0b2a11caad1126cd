// The virtio-mmio transport, version 2 (virtio 1.2, 4.2.2): one 4 KiB page of registers per
// device, found by the guest through `virtio_mmio.device=4K@<base>:<irq>` on its command line.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vmm/bus/bus_device.h"
#include "vmm/virtio/virtio_device.h"

namespace rkt::vmm {

class MmioTransport : public BusDevice {
public:
    static constexpr uint64_t kSize = 0x1000;
    static constexpr uint64_t kQueueNotifyOffset = 0x50;

    MmioTransport(const GuestMemory& memory, std::unique_ptr<VirtioDevice> device,
                  InterruptLine& irq);

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

    // A queue notification arrived (from the ioeventfd on the event thread, or a QueueNotify
    // write with no ioeventfd registered).
    void notify_queue(uint32_t index);

    VirtioDevice& device() { return *device_; }
    uint32_t status() const;
    // Why the last activation failed, for the log.
    std::string last_error() const;

private:
    uint32_t read_register(uint64_t offset);
    void write_register(uint64_t offset, uint32_t value);
    void set_status(uint32_t value);
    void reset_locked();
    std::optional<QueueConfig*> selected_queue();

    std::mutex mutex_;  // guards the register state below
    const GuestMemory& memory_;
    std::unique_ptr<VirtioDevice> device_;
    VirtioInterrupt interrupt_;
    std::vector<QueueConfig> queues_;
    uint32_t status_ = 0;
    uint32_t device_features_select_ = 0;
    uint32_t driver_features_select_ = 0;
    uint64_t driver_features_ = 0;
    uint32_t queue_select_ = 0;
    uint32_t config_generation_ = 0;
    bool activated_ = false;
    std::string last_error_;
};

}  // namespace rkt::vmm
