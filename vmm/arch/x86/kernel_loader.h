// Loads the guest kernel into guest memory: an ELF vmlinux (its PT_LOAD segments at their
// physical addresses, plus the PVH entry note if present) or a bzImage (the protected-mode part
// at 1 MiB, entered at its 64-bit entry, load + 0x200). Both files are hostile input: every
// header field is checked against the file size and guest RAM before it is used.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "vmm/kvm/guest_memory.h"

namespace rkt::vmm::x86 {

enum class KernelFormat { kElf, kBzImage };

struct LoadedKernel {
    KernelFormat format = KernelFormat::kElf;
    uint64_t entry_64 = 0;              // Linux 64-bit boot protocol entry
    std::optional<uint64_t> pvh_entry;  // XEN_ELFNOTE_PHYS32_ENTRY, ELF only
    uint64_t image_end = 0;             // first byte after the kernel (incl. bss/init_size)
    std::vector<uint8_t> setup_header;  // bzImage: its header, for the zero page
    uint64_t initrd_address_max = 0x7fffffff;
    uint32_t command_line_max = 2048;  // including the terminating NUL
};

struct LoadedInitrd {
    uint64_t address = 0;
    uint64_t size = 0;
};

// `fd` is read with pread only. Throws an Error naming what is wrong with the image.
LoadedKernel load_kernel(int fd, const GuestMemory& memory);
// Places the initrd page-aligned as high as possible in [lowest, highest_end).
LoadedInitrd load_initrd(int fd, const GuestMemory& memory, uint64_t lowest, uint64_t highest_end);

}  // namespace rkt::vmm::x86
