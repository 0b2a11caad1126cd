// The boot timer: the guest's init writes the magic byte 123 here once it runs, and the VMM
// records the moment, so boot time is measured from the host's clock the way Firecracker's
// boot-timer device does. It answers both a port (0x3f0, for early code) and an MMIO page
// (for user space through /dev/mem).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>

#include "vmm/bus/bus_device.h"

namespace rkt::vmm {

class BootTimer : public BusDevice {
public:
    static constexpr uint8_t kMagic = 123;
    using Clock = std::chrono::steady_clock;

    // `on_signal` runs on the vCPU thread for every magic write, with the host time it arrived.
    explicit BootTimer(std::function<void(Clock::time_point)> on_signal)
        : on_signal_(std::move(on_signal)) {}

    void read(uint64_t, std::span<uint8_t> data) override {
        for (auto& b : data) b = 0;
    }
    void write(uint64_t offset, std::span<const uint8_t> data) override {
        if (offset == 0 && !data.empty() && data[0] == kMagic && on_signal_)
            on_signal_(Clock::now());
    }

private:
    std::function<void(Clock::time_point)> on_signal_;
};

}  // namespace rkt::vmm
