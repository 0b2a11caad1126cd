#include "vmm/arch/x86/gdt.h"

namespace rkt::vmm::x86 {

uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit) {
    return ((static_cast<uint64_t>(base) & 0xff000000ull) << 32) |
           ((static_cast<uint64_t>(base) & 0x00ffffffull) << 16) |
           (static_cast<uint64_t>(limit) & 0x0000ffffull) |
           ((static_cast<uint64_t>(limit) & 0x000f0000ull) << 32) |
           ((static_cast<uint64_t>(flags) & 0xf0ffull) << 40);
}

kvm_segment segment_from_entry(uint64_t entry, uint16_t selector) {
    kvm_segment s{};
    s.base = ((entry >> 16) & 0x00ffffffull) | ((entry >> 32) & 0xff000000ull);
    uint32_t limit = static_cast<uint32_t>((entry & 0xffff) | ((entry >> 32) & 0xf0000));
    s.g = (entry >> 55) & 1;
    s.limit = s.g ? (limit << 12) | 0xfff : limit;
    s.selector = selector;
    s.type = (entry >> 40) & 0xf;
    s.present = (entry >> 47) & 1;
    s.dpl = (entry >> 45) & 3;
    s.db = (entry >> 54) & 1;
    s.s = (entry >> 44) & 1;
    s.l = (entry >> 53) & 1;
    s.avl = (entry >> 52) & 1;
    s.unusable = s.present ? 0 : 1;
    return s;
}

BootGdt long_mode_gdt() {
    return {{0, 0, gdt_entry(0xa09b, 0, 0xfffff), gdt_entry(0xc093, 0, 0xfffff),
             gdt_entry(0x808b, 0, 0xfffff)}};
}

BootGdt protected_mode_gdt() {
    return {{0, 0, gdt_entry(0xc09b, 0, 0xfffff), gdt_entry(0xc093, 0, 0xfffff),
             gdt_entry(0x008b, 0, 0x67)}};
}

}  // namespace rkt::vmm::x86
