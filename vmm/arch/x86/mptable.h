// The Intel MultiProcessor table (MP spec 1.4) in the last KiB of base memory: without ACPI it
// is how Linux learns the CPUs, the IOAPIC and how ISA interrupt lines reach it.
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/kvm/guest_memory.h"

namespace rkt::vmm::x86 {

// The floating pointer followed by the configuration table, as placed at `address`.
std::vector<uint8_t> build_mptable(uint64_t address, uint32_t vcpu_count);
void write_mptable(const GuestMemory& memory, uint32_t vcpu_count);

}  // namespace rkt::vmm::x86
