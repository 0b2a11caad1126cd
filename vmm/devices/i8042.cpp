#include "vmm/devices/i8042.h"

namespace rkt::vmm {
namespace {
constexpr uint64_t kDataOffset = 0;    // port 0x60
constexpr uint64_t kStatusOffset = 4;  // port 0x64
constexpr uint8_t kStatusOutputFull = 0x01, kStatusSystem = 0x04, kStatusCommand = 0x08,
                  kStatusUnlocked = 0x10;  // clear would mean "keylock active"
constexpr uint8_t kCmdReadControl = 0x20, kCmdWriteControl = 0x60, kCmdDisableAux = 0xa7,
                  kCmdEnableAux = 0xa8, kCmdTestAux = 0xa9, kCmdSelfTest = 0xaa,
                  kCmdTestKeyboard = 0xab, kCmdDisableKeyboard = 0xad, kCmdEnableKeyboard = 0xae,
                  kCmdReadOutputPort = 0xd0, kCmdWriteOutputPort = 0xd1, kCmdResetCpu = 0xfe;
constexpr uint8_t kControlKeyboardInterrupt = 0x01;
constexpr uint8_t kKeyboardAck = 0xfa, kKeyboardSelfTestOk = 0xaa;
constexpr size_t kOutputCapacity = 16;
}  // namespace

I8042::I8042(InterruptLine& keyboard_irq, std::function<void()> on_reset)
    : irq_(keyboard_irq), on_reset_(std::move(on_reset)) {}

void I8042::push_output(uint8_t byte) {
    if (output_.size() >= kOutputCapacity) return;
    output_.push_back(byte);
    if (control_ & kControlKeyboardInterrupt) irq_.trigger();
}

void I8042::read(uint64_t offset, std::span<uint8_t> data) {
    if (data.empty()) return;
    std::lock_guard lock(mutex_);
    uint8_t value = 0xff;
    if (offset == kDataOffset) {
        value = 0;
        if (!output_.empty()) {
            value = output_.front();
            output_.pop_front();
        }
    } else if (offset == kStatusOffset) {
        // Input buffer always empty: the guest never waits for us to consume a byte.
        value = kStatusSystem | kStatusUnlocked | (pending_command_ ? kStatusCommand : 0) |
                (output_.empty() ? 0 : kStatusOutputFull);
    }
    data[0] = value;
    for (size_t i = 1; i < data.size(); ++i) data[i] = 0xff;
}

void I8042::controller_command(uint8_t command) {
    switch (command) {
        case kCmdReadControl:
            push_output(control_);
            break;
        case kCmdWriteControl:
        case kCmdWriteOutputPort:
            pending_command_ = command;
            break;
        case kCmdSelfTest:
            push_output(0x55);
            break;
        case kCmdTestKeyboard:
        case kCmdTestAux:
            push_output(0x00);
            break;
        case kCmdReadOutputPort:
            push_output(output_port_);
            break;
        case kCmdDisableKeyboard:
        case kCmdEnableKeyboard:
        case kCmdDisableAux:
        case kCmdEnableAux:
            break;
        case kCmdResetCpu:
            if (on_reset_) on_reset_();
            break;
        default:
            break;  // unknown commands are ignored, as a real controller ignores them
    }
}

void I8042::data_write(uint8_t value) {
    if (pending_command_ == kCmdWriteControl) {
        control_ = value;
    } else if (pending_command_ == kCmdWriteOutputPort) {
        output_port_ = value;
        // Bit 0 low pulses the CPU reset line, the other way firmware resets the machine.
        if ((value & 0x01) == 0 && on_reset_) on_reset_();
    } else {
        // A byte for the keyboard itself: acknowledge it, and answer a reset with a pass.
        push_output(kKeyboardAck);
        if (value == 0xff) push_output(kKeyboardSelfTestOk);
    }
    pending_command_ = 0;
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data) {
    if (data.empty()) return;
    {
        std::lock_guard lock(mutex_);
        if (offset == kStatusOffset) {
            controller_command(data[0]);
        } else if (offset == kDataOffset) {
            data_write(data[0]);
        }
    }
}

}  // namespace rkt::vmm
