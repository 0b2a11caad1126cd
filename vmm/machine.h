// A running-to-be VM: the KVM VM and its guest memory, the two buses, the event loop and the
// vCPUs, plus the threads that run them. The builder (builder.h) fills one in for a Linux guest;
// the KVM tests fill one in with their own small guests. Nothing is added once run() starts:
// run() seals both buses (a BusBuilder becomes an immutable Bus, and any later insert, virtio
// device or new interrupt line is an Error), and the vCPU threads see only the sealed buses.
#pragma once

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/event_loop.h"
#include "vmm/bus/bus.h"
#include "vmm/exit_policy.h"
#include "vmm/kvm/irq_fd.h"
#include "vmm/kvm/kvm_system.h"
#include "vmm/kvm/vm.h"
#include "vmm/virtio/mmio_transport.h"
#include "vmm/vm_exit.h"

namespace rkt::vmm {

enum class ThreadRole { kVcpu, kEvents };

struct MachineOptions {
    uint64_t memory_bytes = 128ull << 20;
    uint32_t vcpu_count = 1;
    // Runs first on every thread run() starts (seccomp and capability dropping go here).
    std::function<void(ThreadRole)> thread_setup;
    // Stop the VM with kTimeout after this long (tests); none by default.
    std::optional<std::chrono::milliseconds> timeout;
};

struct VirtioSlot {
    std::shared_ptr<MmioTransport> transport;
    uint64_t mmio_base;
    uint32_t gsi;
    std::string command_line;  // virtio_mmio.device=4K@0x...:GSI
};

class Machine {
public:
    using Clock = std::chrono::steady_clock;

    // Creates the VM with the in-kernel irqchip and PIT, maps guest RAM and creates the vCPUs
    // (not yet configured). `started` is when the build began, for the timings.
    Machine(const KvmSystem& kvm, const MachineOptions& options,
            Clock::time_point started = Clock::now());
    ~Machine();
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    const Vm& vm() const { return vm_; }
    const GuestMemory& memory() const { return memory_; }
    // Where devices are registered, until run() seals them.
    BusBuilder& pio_bus() { return pio_builder_; }
    BusBuilder& mmio_bus() { return mmio_builder_; }
    EventLoop& events() { return events_; }
    std::vector<Vcpu>& vcpus() { return vcpus_; }

    // An irqfd-backed line for `gsi`, owned by the machine (a new one only before run()).
    InterruptLine& interrupt_line(uint32_t gsi);
    // Adds a virtio-mmio device in the next slot: its register page, its GSI, an ioeventfd per
    // queue served by the event loop. Returns where it went and the command-line fragment.
    // Throws once run() has started, or when the slots (one GSI each) are used up.
    const VirtioSlot& add_virtio_device(std::unique_ptr<VirtioDevice> device);
    const std::vector<VirtioSlot>& virtio_slots() const { return virtio_slots_; }

    // Seals the buses, starts the event thread and one thread per vCPU and blocks until the VM
    // ends. Only once.
    VmResult run();
    // Ends the VM (from any thread: a device, a signal-handling thread, a vCPU). The first
    // reason given wins.
    void request_stop(VmExit exit);
    // Where each vCPU is (rip, mode registers), for diagnosing a VM that ended badly. Only
    // meaningful while no vCPU thread runs (before or after run()).
    std::string describe_vcpus() const;
    // Records the boot timer's moment (first one wins).
    void record_boot_signal(Clock::time_point when);

private:
    void vcpu_thread(size_t index);
    void event_thread();
    void kick_all();
    void require_building(const std::string& what) const;

    MachineOptions options_;
    Clock::time_point started_;
    Vm vm_;
    GuestMemory memory_;
    // Declared before everything that holds devices: devices unregister from the event loop
    // and read guest memory until they are destroyed.
    EventLoop events_;
    std::vector<std::unique_ptr<IrqFdLine>> lines_;
    BusBuilder pio_builder_{"port I/O"};
    BusBuilder mmio_builder_{"MMIO"};
    // Set by run(): what the vCPU threads dispatch on.
    std::optional<Bus> pio_bus_;
    std::optional<Bus> mmio_bus_;
    UnclaimedAccessLog unclaimed_;
    std::vector<std::unique_ptr<EventFd>> queue_events_;
    std::vector<VirtioSlot> virtio_slots_;
    std::vector<Vcpu> vcpus_;

    std::vector<std::thread> threads_;
    std::vector<pthread_t> vcpu_handles_;
    std::mutex mutex_;
    std::condition_variable stopped_cv_;
    std::optional<VmExit> exit_;
    std::optional<Clock::time_point> boot_signal_;
};

// The signal used to kick vCPU threads out of KVM_RUN.
int vcpu_kick_signal();

}  // namespace rkt::vmm
