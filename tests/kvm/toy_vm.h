// A small VM for the KVM tests: guest RAM, the machine, a result port the guest writes 32-bit
// values to, and helpers to add the devices a test needs. Guests come from tests/kvm/guests.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vmm/flat_guest.h"
#include "vmm/kvm/kvm_system.h"
#include "vmm/machine.h"
#include "vmm/sandbox.h"

namespace rkt::vmm::test {

// Records the 32-bit values the guest writes to port 0x500; `on_value` runs on the vCPU thread.
class ResultPort : public BusDevice {
public:
    void read(uint64_t, std::span<uint8_t> data) override;
    void write(uint64_t, std::span<const uint8_t> data) override;
    std::vector<uint32_t> values();
    std::function<void(uint32_t)> on_value;

private:
    std::mutex mutex_;
    std::vector<uint32_t> values_;
};

// Runs `action` on the vCPU thread when the guest writes to port 0x504.
class ControlPort : public BusDevice {
public:
    explicit ControlPort(std::function<void(uint32_t)> action) : action_(std::move(action)) {}
    void read(uint64_t, std::span<uint8_t> data) override;
    void write(uint64_t, std::span<const uint8_t> data) override;

private:
    std::function<void(uint32_t)> action_;
};

// The bytes of tests/kvm/guests/<name>.bin.
std::vector<uint8_t> guest_image(const std::string& name);

class ToyVm {
public:
    static constexpr uint64_t kLoadAddress = 0x100000;

    // False, with the reason, when this machine has no usable /dev/kvm.
    static bool kvm_available(std::string* why);

    explicit ToyVm(uint32_t vcpus = 1, uint64_t memory = 8 << 20,
                   SeccompMode seccomp = SeccompMode::kEnforce);
    Machine& machine() { return *machine_; }
    const KvmSystem& kvm() const { return kvm_; }
    ResultPort& results() { return *results_; }

    void add_i8042();
    // The 8250 at 0x3f8 writing into `fd`.
    void add_serial(int fd);
    void add_control(std::function<void(uint32_t)> action);
    // Loads guests/<name>.bin at 1 MiB (64-bit) or `address` (real mode).
    void load(const std::string& name, FlatMode mode = FlatMode::kLong64,
              uint64_t address = kLoadAddress);
    // Runs the VM; a guest that never ends is stopped after 20 s (kTimeout).
    VmResult run();

private:
    KvmSystem kvm_;
    std::unique_ptr<Machine> machine_;
    std::shared_ptr<ResultPort> results_;
};

}  // namespace rkt::vmm::test
