// Identity page tables for the 64-bit entry: PML4 -> PDPT -> PDs of 2 MiB pages. Linux needs the
// first 1 GiB (kernel, zero page, command line) and maps the rest itself; the small test guests,
// which never build their own tables, get all 4 GiB so they reach the devices below 4 GiB.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "vmm/kvm/guest_memory.h"

namespace rkt::vmm::x86 {

inline constexpr uint64_t kPtePresent = 1, kPteWritable = 2, kPteHugePage = 0x80;

inline constexpr uint32_t kMaxIdentityMappedGib = 4;

struct IdentityPageTables {
    std::array<uint64_t, 512> pml4{};
    std::array<uint64_t, 512> pdpt{};
    std::vector<std::array<uint64_t, 512>> pds;  // one per GiB, from kPdAddress on
};

IdentityPageTables build_identity_page_tables(uint32_t gib = 1);
// Writes the tables at their layout addresses; throws when guest RAM does not hold them.
void write_identity_page_tables(const GuestMemory& memory, uint32_t gib = 1);

}  // namespace rkt::vmm::x86
