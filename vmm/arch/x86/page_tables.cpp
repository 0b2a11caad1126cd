#include "vmm/arch/x86/page_tables.h"

#include "common/error.h"
#include "vmm/arch/x86/layout.h"

namespace rkt::vmm::x86 {

IdentityPageTables build_identity_page_tables() {
    IdentityPageTables t;
    t.pml4[0] = kPdptAddress | kPtePresent | kPteWritable;
    t.pdpt[0] = kPdAddress | kPtePresent | kPteWritable;
    for (uint64_t i = 0; i < 512; ++i)
        t.pd[i] = (i << 21) | kPtePresent | kPteWritable | kPteHugePage;
    return t;
}

void write_identity_page_tables(const GuestMemory& memory) {
    auto t = build_identity_page_tables();
    if (!memory.write_obj(kPml4Address, t.pml4) || !memory.write_obj(kPdptAddress, t.pdpt) ||
        !memory.write_obj(kPdAddress, t.pd))
        throw Error("guest memory is too small for the boot page tables");
}

}  // namespace rkt::vmm::x86
