// The PS/2 controller at ports 0x60/0x64, reduced to what a guest needs: enough of the command
// set for Linux's probe to succeed quickly, and the CPU reset command (0xFE to port 0x64) that
// `reboot=k` uses, which ends the VM.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>

#include "vmm/bus/bus_device.h"
#include "vmm/bus/interrupt_line.h"

namespace rkt::vmm {

class I8042 : public BusDevice {
public:
    // Registered at port 0x60 with a range of 5 bytes (0x60..0x64).
    static constexpr uint64_t kBasePort = 0x60;
    static constexpr uint64_t kPortCount = 5;

    // `on_reset` runs (on the vCPU thread) when the guest asks for a CPU reset.
    I8042(InterruptLine& keyboard_irq, std::function<void()> on_reset);

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

private:
    void push_output(uint8_t byte);
    void controller_command(uint8_t command);
    void data_write(uint8_t value);

    std::mutex mutex_;
    InterruptLine& irq_;
    std::function<void()> on_reset_;
    std::deque<uint8_t> output_;
    uint8_t control_ = 0x45;       // keyboard interrupt on, system flag, translation
    uint8_t pending_command_ = 0;  // a controller command waiting for its data byte
    uint8_t output_port_ = 0x01;
};

}  // namespace rkt::vmm
