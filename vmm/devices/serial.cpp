#include "vmm/devices/serial.h"

#include <unistd.h>

#include <cerrno>

#include "common/io.h"

namespace rkt::vmm {
namespace {
// Register offsets (DLAB = LCR bit 7 switches 0 and 1 to the divisor latch).
constexpr uint64_t kData = 0, kInterruptEnable = 1, kInterruptId = 2, kLineControl = 3,
                   kModemControl = 4, kLineStatus = 5, kModemStatus = 6, kScratch = 7;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kIerReceived = 0x01, kIerTransmitEmpty = 0x02;
constexpr uint8_t kIirNone = 0x01, kIirTransmitEmpty = 0x02, kIirReceived = 0x04,
                  kIirFifoEnabled = 0xc0;
constexpr uint8_t kLsrDataReady = 0x01, kLsrTransmitEmpty = 0x20, kLsrIdle = 0x40;
constexpr uint8_t kMcrLoopback = 0x10;
constexpr uint8_t kMsrDefault = 0xb0;  // carrier detect, data set ready, clear to send
constexpr size_t kReceiveCapacity = 4096;
constexpr size_t kOutputBuffer = 256;
}  // namespace

Serial::Serial(InterruptLine& irq, int output_fd) : irq_(irq), output_fd_(output_fd) {}

Serial::~Serial() {
    flush();
}

uint8_t Serial::interrupt_identification() const {
    uint8_t fifo = (fifo_control_ & 1) ? kIirFifoEnabled : 0;
    if ((ier_ & kIerReceived) && !receive_.empty()) return kIirReceived | fifo;
    if ((ier_ & kIerTransmitEmpty) && transmit_empty_pending_) return kIirTransmitEmpty | fifo;
    return kIirNone | fifo;
}

void Serial::update_interrupt() {
    if ((interrupt_identification() & kIirNone) == 0) irq_.trigger();
}

void Serial::transmit(uint8_t byte) {
    if (mcr_ & kMcrLoopback) {
        if (receive_.size() < kReceiveCapacity) receive_.push_back(byte);
        return;
    }
    if (output_fd_ < 0) return;
    pending_output_.push_back(static_cast<char>(byte));
    if (byte == '\n' || pending_output_.size() >= kOutputBuffer) flush_locked();
}

void Serial::flush_locked() {
    std::string_view rest = pending_output_;
    while (!rest.empty() && output_fd_ >= 0) {
        ssize_t n = io::retry_eintr([&] { return ::write(output_fd_, rest.data(), rest.size()); });
        if (n <= 0) break;  // console output is best effort: never stall the guest on it
        rest.remove_prefix(static_cast<size_t>(n));
    }
    pending_output_.clear();
}

void Serial::flush() {
    std::lock_guard lock(mutex_);
    flush_locked();
}

size_t Serial::enqueue_input(std::span<const uint8_t> bytes) {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (uint8_t b : bytes) {
        if (receive_.size() >= kReceiveCapacity) break;
        receive_.push_back(b);
        ++n;
    }
    if (n > 0) update_interrupt();
    return n;
}

void Serial::read(uint64_t offset, std::span<uint8_t> data) {
    if (data.empty()) return;
    std::lock_guard lock(mutex_);
    uint8_t value = 0;
    bool dlab = lcr_ & kLcrDlab;
    switch (offset) {
        case kData:
            if (dlab) {
                value = divisor_low_;
            } else if (!receive_.empty()) {
                value = receive_.front();
                receive_.pop_front();
            }
            break;
        case kInterruptEnable:
            value = dlab ? divisor_high_ : ier_;
            break;
        case kInterruptId:
            value = interrupt_identification();
            // Reading the identification acknowledges a transmit-empty interrupt.
            if ((value & 0x0f) == kIirTransmitEmpty) transmit_empty_pending_ = false;
            break;
        case kLineControl:
            value = lcr_;
            break;
        case kModemControl:
            value = mcr_;
            break;
        case kLineStatus:
            value = kLsrTransmitEmpty | kLsrIdle | (receive_.empty() ? 0 : kLsrDataReady);
            break;
        case kModemStatus:
            if (mcr_ & kMcrLoopback) {
                // Loopback wires DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
                value = static_cast<uint8_t>(((mcr_ & 0x01) << 5) | ((mcr_ & 0x02) << 3) |
                                             ((mcr_ & 0x04) << 4) | ((mcr_ & 0x08) << 4));
            } else {
                value = kMsrDefault;
            }
            break;
        case kScratch:
            value = scratch_;
            break;
        default:
            break;
    }
    data[0] = value;
    for (size_t i = 1; i < data.size(); ++i) data[i] = 0xff;
}

void Serial::write(uint64_t offset, std::span<const uint8_t> data) {
    if (data.empty()) return;
    std::lock_guard lock(mutex_);
    uint8_t value = data[0];
    bool dlab = lcr_ & kLcrDlab;
    switch (offset) {
        case kData:
            if (dlab) {
                divisor_low_ = value;
            } else {
                transmit(value);
                transmit_empty_pending_ = true;
                update_interrupt();
            }
            break;
        case kInterruptEnable:
            if (dlab) {
                divisor_high_ = value;
            } else {
                ier_ = value & 0x0f;
                if (ier_ & kIerTransmitEmpty) transmit_empty_pending_ = true;
                update_interrupt();
            }
            break;
        case kInterruptId:
            fifo_control_ = value;
            if (value & 0x02) receive_.clear();  // clear receive FIFO
            break;
        case kLineControl:
            lcr_ = value;
            break;
        case kModemControl:
            mcr_ = value & 0x1f;
            break;
        case kScratch:
            scratch_ = value;
            break;
        default:
            break;  // line and modem status are read-only
    }
}

}  // namespace rkt::vmm
