#include "vmm/arch/x86/linux_boot.h"

#include <algorithm>
#include <vector>

#include "common/error.h"
#include "vmm/arch/x86/e820.h"
#include "vmm/arch/x86/layout.h"
#include "vmm/arch/x86/mptable.h"
#include "vmm/arch/x86/page_tables.h"
#include "vmm/arch/x86/zero_page.h"

namespace rkt::vmm::x86 {
namespace {

constexpr uint32_t kPvhMagic = 0x336ec578;
constexpr size_t kPvhStartInfoSize = 56, kPvhModuleSize = 32, kPvhMemmapEntrySize = 24;

std::vector<MemoryRange> ram_of(const GuestMemory& memory) {
    std::vector<MemoryRange> ranges;
    for (const auto& r : memory.regions()) ranges.push_back({r.guest_address, r.size});
    return ranges;
}

uint64_t low_ram_end(const GuestMemory& memory) {
    const auto& first = memory.regions().front();
    return first.guest_address + first.size;
}

void put(std::vector<uint8_t>& b, size_t offset, const void* v, size_t n) {
    std::memcpy(b.data() + offset, v, n);
}

}  // namespace

void write_pvh_start_info(const GuestMemory& memory, uint64_t command_line_address,
                          const std::optional<LoadedInitrd>& initrd,
                          const std::vector<E820Entry>& memory_map) {
    std::vector<uint8_t> info(kPvhStartInfoSize, 0);
    uint32_t magic = kPvhMagic, version = 1, modules = initrd ? 1 : 0;
    uint64_t modlist = initrd ? kPvhModuleListAddress : 0, memmap = kPvhMemoryMapAddress;
    uint32_t memmap_entries = static_cast<uint32_t>(memory_map.size());
    put(info, 0, &magic, 4);
    put(info, 4, &version, 4);
    put(info, 12, &modules, 4);
    put(info, 16, &modlist, 8);
    put(info, 24, &command_line_address, 8);
    put(info, 40, &memmap, 8);
    put(info, 48, &memmap_entries, 4);
    if (!memory.write(kPvhStartInfoAddress, info)) throw Error("guest memory too small for PVH");

    if (initrd) {
        std::vector<uint8_t> module(kPvhModuleSize, 0);
        put(module, 0, &initrd->address, 8);
        put(module, 8, &initrd->size, 8);
        if (!memory.write(kPvhModuleListAddress, module))
            throw Error("guest memory too small for PVH");
    }
    std::vector<uint8_t> table(memory_map.size() * kPvhMemmapEntrySize, 0);
    for (size_t i = 0; i < memory_map.size(); ++i) {
        uint32_t type = static_cast<uint32_t>(memory_map[i].type);
        put(table, i * kPvhMemmapEntrySize, &memory_map[i].address, 8);
        put(table, i * kPvhMemmapEntrySize + 8, &memory_map[i].size, 8);
        put(table, i * kPvhMemmapEntrySize + 16, &type, 4);
    }
    if (kPvhMemoryMapAddress + table.size() > kBootStackPointer - 0x100 ||
        !memory.write(kPvhMemoryMapAddress, table))
        throw Error("the PVH memory map does not fit");
}

LinuxBootResult prepare_linux_boot(const GuestMemory& memory, const LinuxBootInputs& in) {
    if (!memory.contains(0, kHighMemoryStart))
        throw Error("guest memory must cover the first MiB for a Linux boot");
    LinuxBootResult result;
    result.kernel = with_context("guest kernel", [&] { return load_kernel(in.kernel_fd, memory); });
    const LoadedKernel& kernel = result.kernel;

    bool pvh = in.protocol == BootProtocol::kPvh;
    if (pvh && !kernel.pvh_entry)
        throw Error(
            "PVH boot asked for, but the guest kernel has no PVH entry note "
            "(build it with CONFIG_PVH=y, or use the 64-bit entry)");

    if (in.command_line.size() + 1 > kernel.command_line_max)
        throw Error("the guest kernel command line is " + std::to_string(in.command_line.size()) +
                    " bytes; this kernel takes at most " +
                    std::to_string(kernel.command_line_max - 1));
    std::vector<uint8_t> cmdline(in.command_line.begin(), in.command_line.end());
    cmdline.push_back(0);
    if (!memory.write(kCommandLineAddress, cmdline)) throw Error("cannot write the command line");

    if (in.initrd_fd >= 0) {
        uint64_t top = std::min<uint64_t>(low_ram_end(memory), kernel.initrd_address_max + 1);
        result.initrd = with_context(
            "initrd", [&] { return load_initrd(in.initrd_fd, memory, kernel.image_end, top); });
    }

    auto memory_map = build_e820(ram_of(memory));
    write_mptable(memory, in.vcpu_count);
    if (pvh) {
        write_pvh_start_info(memory, kCommandLineAddress, result.initrd, memory_map);
        result.entry = {EntryMode::kPvh, *kernel.pvh_entry, kPvhStartInfoAddress};
        return result;
    }

    ZeroPage zero_page;
    if (kernel.format == KernelFormat::kBzImage) zero_page.set_setup_header(kernel.setup_header);
    zero_page.set_loader_fields(kCommandLineAddress, kernel.command_line_max - 1);
    if (result.initrd) zero_page.set_initrd(result.initrd->address, result.initrd->size);
    zero_page.set_e820(memory_map);
    if (!memory.write(kZeroPageAddress, zero_page.bytes()))
        throw Error("cannot write the zero page");
    write_identity_page_tables(memory);
    result.entry = {EntryMode::kLinux64, kernel.entry_64, kZeroPageAddress};
    return result;
}

}  // namespace rkt::vmm::x86
