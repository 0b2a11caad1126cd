// A 16550A UART as Linux's 8250 driver expects it at 0x3f8/IRQ 4: transmit is instant (every
// byte goes to the output fd), receive comes from enqueue_input(). Every guest byte is a port
// exit, so the builder creates this device only when a serial console is asked for.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>

#include "vmm/bus/bus_device.h"
#include "vmm/bus/interrupt_line.h"

namespace rkt::vmm {

class Serial : public BusDevice {
public:
    static constexpr uint64_t kPortCount = 8;

    // `output_fd` (not owned) receives what the guest transmits; -1 discards it.
    Serial(InterruptLine& irq, int output_fd);
    ~Serial() override;

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

    // Bytes for the guest to receive. Returns how many fit in the receive buffer.
    size_t enqueue_input(std::span<const uint8_t> bytes);
    // Writes out what the guest transmitted but has not reached the output fd yet.
    void flush();

private:
    uint8_t interrupt_identification() const;
    void update_interrupt();
    void transmit(uint8_t byte);
    void flush_locked();

    std::mutex mutex_;
    InterruptLine& irq_;
    int output_fd_;
    std::string pending_output_;
    std::deque<uint8_t> receive_;
    uint8_t ier_ = 0;
    uint8_t lcr_ = 0x03;  // 8N1
    uint8_t mcr_ = 0x08;  // OUT2
    uint8_t scratch_ = 0;
    uint8_t divisor_low_ = 0x0c;  // 9600 baud
    uint8_t divisor_high_ = 0;
    uint8_t fifo_control_ = 0;
    bool transmit_empty_pending_ = false;
};

}  // namespace rkt::vmm
