// Runs raw machine code as a guest: loads a flat binary and starts a vCPU on it, in 16-bit real
// mode or in 64-bit long mode (identity paging and a flat GDT, as for Linux). Used by the host
// probe and the KVM tests; a Linux guest goes through the builder instead.
#pragma once

#include <cstdint>
#include <span>

#include "vmm/kvm/kvm_system.h"
#include "vmm/machine.h"

namespace rkt::vmm {

enum class FlatMode { kReal16, kLong64 };

// Copies `code` to `load_address` and points vCPU `vcpu` at it. Sets CPUID, MSRs, FPU and LAPIC
// for every vCPU (once, on the first call). Throws when the code does not fit in guest RAM.
void load_flat_guest(const KvmSystem& kvm, Machine& machine, std::span<const uint8_t> code,
                     uint64_t load_address, FlatMode mode);
// Makes vCPU `index` start at `entry` too (instead of waiting for INIT/SIPI).
void start_secondary_vcpu(Machine& machine, size_t index, uint64_t entry, FlatMode mode,
                          uint64_t stack_pointer);

}  // namespace rkt::vmm
