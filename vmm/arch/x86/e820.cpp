#include "vmm/arch/x86/e820.h"

#include <algorithm>

#include "common/error.h"
#include "vmm/arch/x86/layout.h"

namespace rkt::vmm::x86 {

std::vector<MemoryRange> ram_layout(uint64_t bytes) {
    if (bytes == 0 || bytes % kPageSize != 0)
        throw Error("guest memory size must be a non-zero multiple of 4 KiB");
    std::vector<MemoryRange> ranges;
    uint64_t low = std::min(bytes, kMmioHoleStart);
    ranges.push_back({0, low});
    if (bytes > low) ranges.push_back({kMmioHoleEnd, bytes - low});
    return ranges;
}

std::vector<E820Entry> build_e820(const std::vector<MemoryRange>& ram) {
    std::vector<E820Entry> map;
    auto add_ram = [&](uint64_t start, uint64_t end) {
        if (end > start) map.push_back({start, end - start, E820Type::kRam});
    };
    for (const auto& r : ram) {
        uint64_t start = r.guest_address;
        uint64_t end = r.guest_address + r.size;
        // Below 1 MiB only [0, EBDA) is usable; the rest of the first MiB is reserved once.
        add_ram(start, std::min(end, kEbdaAddress));
        if (start < kHighMemoryStart && end > kEbdaAddress)
            map.push_back({kEbdaAddress, kHighMemoryStart - kEbdaAddress, E820Type::kReserved});
        add_ram(std::max(start, kHighMemoryStart), end);
    }
    return map;
}

}  // namespace rkt::vmm::x86
