#include "vmm/kvm/guest_memory.h"

#include <sys/mman.h>

#include <string>

#include "common/error.h"

namespace rkt::vmm {
namespace {
constexpr uint64_t kPageSize = 4096;
}

GuestMemory::GuestMemory(const std::vector<MemoryRange>& ranges) {
    if (ranges.empty()) throw Error("guest memory needs at least one range");
    uint64_t previous_end = 0;
    for (const auto& r : ranges) {
        if (r.size == 0 || r.guest_address % kPageSize != 0 || r.size % kPageSize != 0)
            throw Error("guest memory ranges must be non-empty and page-aligned");
        if (r.guest_address < previous_end || r.guest_address + r.size < r.guest_address)
            throw Error("guest memory ranges must be sorted and must not overlap");
        previous_end = r.guest_address + r.size;
        mapping_size_ += r.size;
    }
    mapping_ = ::mmap(nullptr, mapping_size_, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapping_ == MAP_FAILED) {
        mapping_ = nullptr;
        throw system_error("cannot map " + std::to_string(mapping_size_ >> 20) +
                           " MiB of guest memory");
    }
    // Guest RAM never belongs in a core dump of the VMM.
    ::madvise(mapping_, mapping_size_, MADV_DONTDUMP);
    auto* host = static_cast<uint8_t*>(mapping_);
    for (const auto& r : ranges) {
        regions_.push_back({r.guest_address, r.size, host});
        host += r.size;
    }
}

GuestMemory::~GuestMemory() {
    if (mapping_) ::munmap(mapping_, mapping_size_);
}

uint64_t GuestMemory::end_address() const {
    const auto& last = regions_.back();
    return last.guest_address + last.size;
}

const GuestMemory::Region* GuestMemory::find(uint64_t address, uint64_t length) const {
    for (const auto& r : regions_) {
        if (address < r.guest_address) return nullptr;  // sorted: in a hole
        uint64_t offset = address - r.guest_address;
        if (offset >= r.size) continue;
        // Written so that no addition can wrap around.
        if (length > r.size - offset) return nullptr;
        return &r;
    }
    return nullptr;
}

bool GuestMemory::contains(uint64_t address, uint64_t length) const {
    return find(address, length) != nullptr;
}

std::optional<std::span<uint8_t>> GuestMemory::slice(uint64_t address, uint64_t length) const {
    const Region* r = find(address, length);
    if (!r) return std::nullopt;
    return std::span<uint8_t>(r->host + (address - r->guest_address), length);
}

bool GuestMemory::read(uint64_t address, std::span<uint8_t> out) const {
    auto s = slice(address, out.size());
    if (!s) return false;
    std::memcpy(out.data(), s->data(), out.size());
    return true;
}

bool GuestMemory::write(uint64_t address, std::span<const uint8_t> data) const {
    auto s = slice(address, data.size());
    if (!s) return false;
    std::memcpy(s->data(), data.data(), data.size());
    return true;
}

std::optional<uint16_t> GuestMemory::load_acquire_u16(uint64_t address) const {
    if (address % 2 != 0) return std::nullopt;
    auto s = slice(address, 2);
    if (!s) return std::nullopt;
    return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(s->data()))
        .load(std::memory_order_acquire);
}

bool GuestMemory::store_release_u16(uint64_t address, uint16_t value) const {
    if (address % 2 != 0) return false;
    auto s = slice(address, 2);
    if (!s) return false;
    std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(s->data()))
        .store(value, std::memory_order_release);
    return true;
}

}  // namespace rkt::vmm
