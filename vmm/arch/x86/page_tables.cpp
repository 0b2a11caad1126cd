#include "vmm/arch/x86/page_tables.h"

#include "common/error.h"
#include "vmm/arch/x86/layout.h"

namespace rkt::vmm::x86 {

IdentityPageTables build_identity_page_tables(uint32_t gib) {
    if (gib == 0 || gib > kMaxIdentityMappedGib) throw Error("identity map of 1 to 4 GiB only");
    IdentityPageTables t;
    t.pml4[0] = kPdptAddress | kPtePresent | kPteWritable;
    t.pds.resize(gib);
    for (uint64_t g = 0; g < gib; ++g) {
        t.pdpt[g] = (kPdAddress + g * kPageSize) | kPtePresent | kPteWritable;
        for (uint64_t i = 0; i < 512; ++i)
            t.pds[g][i] = (((g << 9) + i) << 21) | kPtePresent | kPteWritable | kPteHugePage;
    }
    return t;
}

void write_identity_page_tables(const GuestMemory& memory, uint32_t gib) {
    auto t = build_identity_page_tables(gib);
    bool ok = memory.write_obj(kPml4Address, t.pml4) && memory.write_obj(kPdptAddress, t.pdpt);
    for (size_t g = 0; g < t.pds.size(); ++g)
        ok = ok && memory.write_obj(kPdAddress + g * kPageSize, t.pds[g]);
    if (!ok) throw Error("guest memory is too small for the boot page tables");
}

}  // namespace rkt::vmm::x86
