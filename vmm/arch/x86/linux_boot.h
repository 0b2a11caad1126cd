// Puts a Linux guest into memory ready to run: kernel, initrd, command line, the boot-info
// structure of the chosen entry (zero page or PVH start info), page tables and MP table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "vmm/arch/x86/e820.h"
#include "vmm/arch/x86/kernel_loader.h"
#include "vmm/arch/x86/vcpu_setup.h"
#include "vmm/kvm/guest_memory.h"

namespace rkt::vmm::x86 {

enum class BootProtocol {
    kAuto,  // the Linux 64-bit entry (PVH only when asked for: see docs/vmm.md)
    kLinux64,
    kPvh,  // needs a vmlinux with the PVH note (CONFIG_PVH)
};

struct LinuxBootInputs {
    int kernel_fd = -1;
    int initrd_fd = -1;  // -1: none
    std::string command_line;
    uint32_t vcpu_count = 1;
    BootProtocol protocol = BootProtocol::kAuto;
};

struct LinuxBootResult {
    BootEntry entry;
    LoadedKernel kernel;
    std::optional<LoadedInitrd> initrd;
};

LinuxBootResult prepare_linux_boot(const GuestMemory& memory, const LinuxBootInputs& inputs);

// The PVH hvm_start_info (+ module list and memory map) written at their layout addresses.
void write_pvh_start_info(const GuestMemory& memory, uint64_t command_line_address,
                          const std::optional<LoadedInitrd>& initrd,
                          const std::vector<E820Entry>& memory_map);

}  // namespace rkt::vmm::x86
