#include "vmm/arch/x86/zero_page.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"

namespace rkt::vmm::x86 {

void ZeroPage::set_setup_header(std::span<const uint8_t> header) {
    size_t n = std::min(header.size(), zp::kSetupHeaderMaxEnd - zp::kSetupHeader);
    std::memcpy(bytes_.data() + zp::kSetupHeader, header.data(), n);
}

void ZeroPage::set_loader_fields(uint64_t cmdline_address, uint32_t cmdline_size) {
    put<uint16_t>(zp::kBootFlag, zp::kBootFlagValue);
    put<uint32_t>(zp::kHeaderMagic, zp::kHeaderMagicValue);
    put<uint8_t>(zp::kTypeOfLoader, zp::kLoaderUndefined);
    put<uint8_t>(zp::kLoadFlags, static_cast<uint8_t>(get<uint8_t>(zp::kLoadFlags) |
                                                      zp::kLoadedHigh | zp::kCanUseHeap));
    put<uint16_t>(zp::kHeapEndPtr, 0xfe00);
    put<uint32_t>(zp::kCmdLinePtr, static_cast<uint32_t>(cmdline_address));
    put<uint32_t>(zp::kExtCmdLinePtr, static_cast<uint32_t>(cmdline_address >> 32));
    put<uint32_t>(zp::kCmdlineSize, cmdline_size);
    // A vmlinux has no header of its own: declare the 16 MiB alignment Linux builds with.
    if (get<uint32_t>(zp::kKernelAlignment) == 0) put<uint32_t>(zp::kKernelAlignment, 0x1000000);
}

void ZeroPage::set_initrd(uint64_t address, uint64_t size) {
    put<uint32_t>(zp::kRamdiskImage, static_cast<uint32_t>(address));
    put<uint32_t>(zp::kExtRamdiskImage, static_cast<uint32_t>(address >> 32));
    put<uint32_t>(zp::kRamdiskSize, static_cast<uint32_t>(size));
    put<uint32_t>(zp::kExtRamdiskSize, static_cast<uint32_t>(size >> 32));
}

void ZeroPage::set_e820(const std::vector<E820Entry>& map) {
    if (map.size() > zp::kE820MaxEntries) throw Error("the guest memory map has too many entries");
    put<uint8_t>(zp::kE820Entries, static_cast<uint8_t>(map.size()));
    size_t offset = zp::kE820Table;
    for (const auto& e : map) {
        put<uint64_t>(offset, e.address);
        put<uint64_t>(offset + 8, e.size);
        put<uint32_t>(offset + 16, static_cast<uint32_t>(e.type));
        offset += zp::kE820EntrySize;
    }
}

}  // namespace rkt::vmm::x86
