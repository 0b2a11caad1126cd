#include "toy_vm.h"

#include <unistd.h>

#include <cstring>
#include <fstream>

#include "common/error.h"
#include "vmm/arch/x86/layout.h"
#include "vmm/devices/i8042.h"
#include "vmm/devices/serial.h"

namespace rkt::vmm::test {

void ResultPort::read(uint64_t, std::span<uint8_t> data) {
    for (auto& b : data) b = 0;
}

void ResultPort::write(uint64_t, std::span<const uint8_t> data) {
    uint32_t v = 0;
    std::memcpy(&v, data.data(), std::min<size_t>(data.size(), 4));
    {
        std::lock_guard lock(mutex_);
        values_.push_back(v);
    }
    if (on_value) on_value(v);
}

std::vector<uint32_t> ResultPort::values() {
    std::lock_guard lock(mutex_);
    return values_;
}

void ControlPort::read(uint64_t, std::span<uint8_t> data) {
    for (auto& b : data) b = 0;
}

void ControlPort::write(uint64_t, std::span<const uint8_t> data) {
    uint32_t v = 0;
    std::memcpy(&v, data.data(), std::min<size_t>(data.size(), 4));
    action_(v);
}

std::vector<uint8_t> guest_image(const std::string& name) {
    std::string path = std::string(KVM_GUEST_DIR) + "/" + name + ".bin";
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error("missing test guest " + path);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

bool ToyVm::kvm_available(std::string* why) {
    if (::access("/dev/kvm", R_OK | W_OK) != 0) {
        *why = "no usable /dev/kvm on this machine";
        return false;
    }
    return true;
}

ToyVm::ToyVm(uint32_t vcpus, uint64_t memory, SeccompMode seccomp) {
    MachineOptions options;
    options.memory_bytes = memory;
    options.vcpu_count = vcpus;
    options.timeout = std::chrono::milliseconds(20000);
    SandboxOptions sandbox{effective_seccomp_mode(seccomp), false};
    options.thread_setup = [sandbox](ThreadRole role) { sandbox_current_thread(role, sandbox); };
    machine_ = std::make_unique<Machine>(kvm_, options);
    results_ = std::make_shared<ResultPort>();
    machine_->pio_bus().insert(0x500, 4, results_);
}

void ToyVm::add_i8042() {
    Machine* m = machine_.get();
    machine_->pio_bus().insert(I8042::kBasePort, I8042::kPortCount,
                               std::make_shared<I8042>(m->interrupt_line(x86::kKeyboardGsi), [m] {
                                   m->request_stop({VmExitReason::kGuestReset, "i8042 reset"});
                               }));
}

void ToyVm::add_serial(int fd) {
    machine_->pio_bus().insert(
        x86::kSerialPort, Serial::kPortCount,
        std::make_shared<Serial>(machine_->interrupt_line(x86::kSerialGsi), fd));
}

void ToyVm::add_control(std::function<void(uint32_t)> action) {
    machine_->pio_bus().insert(0x504, 4, std::make_shared<ControlPort>(std::move(action)));
}

void ToyVm::load(const std::string& name, FlatMode mode, uint64_t address) {
    load_flat_guest(kvm_, *machine_, guest_image(name), address, mode);
}

VmResult ToyVm::run() {
    return machine_->run();
}

}  // namespace rkt::vmm::test
