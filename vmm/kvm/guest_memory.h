// Guest RAM: one anonymous host mapping split into guest-physical regions. Every access a device
// makes to guest memory goes through the bounds-checked accessors here, which refuse any range
// that is not wholly inside one region, so a guest-supplied address can never reach host memory
// outside the mapping.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

namespace rkt::vmm {

struct MemoryRange {
    uint64_t guest_address = 0;
    uint64_t size = 0;
};

class GuestMemory {
public:
    struct Region {
        uint64_t guest_address;
        uint64_t size;
        uint8_t* host;
    };

    // Maps the ranges (page-aligned, sorted, not overlapping) as one MAP_NORESERVE area: only
    // pages the guest touches cost host memory.
    explicit GuestMemory(const std::vector<MemoryRange>& ranges);
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;
    ~GuestMemory();

    const std::vector<Region>& regions() const { return regions_; }
    uint64_t total_size() const { return mapping_size_; }
    // The highest guest-physical address + 1 of any region.
    uint64_t end_address() const;

    // True when [address, address + length) lies inside one region.
    bool contains(uint64_t address, uint64_t length) const;
    // Direct view of a guest range, or nullopt when it is not wholly inside one region.
    std::optional<std::span<uint8_t>> slice(uint64_t address, uint64_t length) const;

    [[nodiscard]] bool read(uint64_t address, std::span<uint8_t> out) const;
    [[nodiscard]] bool write(uint64_t address, std::span<const uint8_t> data) const;

    template <typename T>
    std::optional<T> read_obj(uint64_t address) const {
        static_assert(std::is_trivially_copyable_v<T>);
        T value;
        if (!read(address, {reinterpret_cast<uint8_t*>(&value), sizeof(T)})) return std::nullopt;
        return value;
    }
    template <typename T>
    [[nodiscard]] bool write_obj(uint64_t address, const T& value) const {
        static_assert(std::is_trivially_copyable_v<T>);
        return write(address, {reinterpret_cast<const uint8_t*>(&value), sizeof(T)});
    }

    // Ring indexes shared with a running guest: naturally aligned loads and stores with the
    // ordering the virtio spec asks for. Unaligned or out-of-range addresses fail.
    std::optional<uint16_t> load_acquire_u16(uint64_t address) const;
    [[nodiscard]] bool store_release_u16(uint64_t address, uint16_t value) const;

private:
    const Region* find(uint64_t address, uint64_t length) const;

    std::vector<Region> regions_;
    void* mapping_ = nullptr;
    uint64_t mapping_size_ = 0;
};

}  // namespace rkt::vmm
