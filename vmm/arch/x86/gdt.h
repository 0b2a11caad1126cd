// The boot GDT and the KVM segment registers derived from it. Selectors follow the kernel's boot
// protocol (boot.rst: __BOOT_CS = 0x10, __BOOT_DS = 0x18) rather than relying on startup code to
// reload its own GDT.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>

namespace rkt::vmm::x86 {

// Encodes a segment descriptor from its flags word (access byte in bits 0-7, the
// G/DB/L/AVL nibble in bits 12-15), base and 20-bit limit.
uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);
// The kvm_segment KVM wants for a descriptor loaded through `selector`.
kvm_segment segment_from_entry(uint64_t entry, uint16_t selector);

inline constexpr uint16_t kCodeSelector = 0x10;
inline constexpr uint16_t kDataSelector = 0x18;
inline constexpr uint16_t kTssSelector = 0x20;

struct BootGdt {
    std::array<uint64_t, 5> entries;  // null, unused, code, data, TSS
    kvm_segment code() const { return segment_from_entry(entries[2], kCodeSelector); }
    kvm_segment data() const { return segment_from_entry(entries[3], kDataSelector); }
    kvm_segment tss() const { return segment_from_entry(entries[4], kTssSelector); }
};

// Flat 64-bit code (L=1) and data for the Linux 64-bit entry.
BootGdt long_mode_gdt();
// Flat 32-bit code and data for the PVH entry (protected mode, paging off).
BootGdt protected_mode_gdt();

}  // namespace rkt::vmm::x86
