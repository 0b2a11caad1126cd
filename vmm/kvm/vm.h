// A KVM virtual machine: memory slots, the in-kernel interrupt controllers and timer, and the
// eventfd plumbing (ioeventfd for guest-to-host doorbells, irqfd for host-to-guest interrupts).
#pragma once

#include <cstdint>
#include <optional>

#include "common/unique_fd.h"
#include "vmm/kvm/event_fd.h"
#include "vmm/kvm/guest_memory.h"
#include "vmm/kvm/vcpu.h"

namespace rkt::vmm {

enum class IoSpace { kPio, kMmio };

class Vm {
public:
    Vm(UniqueFd fd, int vcpu_mmap_size) : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size) {}

    int fd() const { return fd_.get(); }
    int check_extension(int capability) const;

    void set_tss_address(uint64_t address) const;
    void set_identity_map_address(uint64_t address) const;
    void create_irqchip() const;
    void create_pit2() const;
    // Registers every region of `memory` as a memory slot (slot numbers from 0).
    void map_memory(const GuestMemory& memory) const;

    // A guest write of `length` bytes at `address` (matching `datamatch` when given) signals
    // `event` in the kernel without an exit to the VMM.
    void register_ioeventfd(const EventFd& event, IoSpace space, uint64_t address, uint32_t length,
                            std::optional<uint64_t> datamatch) const;
    // Signalling `event` raises interrupt line `gsi` (edge: KVM pulses the line).
    void register_irqfd(const EventFd& event, uint32_t gsi) const;
    // Drives interrupt line `gsi` directly (used by tests and for level changes).
    void set_irq_line(uint32_t gsi, bool level) const;

    Vcpu create_vcpu(uint32_t id) const;

private:
    UniqueFd fd_;
    int vcpu_mmap_size_;
};

}  // namespace rkt::vmm
