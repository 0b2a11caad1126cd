// An address space (port I/O or MMIO) of non-overlapping ranges, each owned by one device, in two
// types: a BusBuilder takes ranges while the VM is built; seal() turns it into a Bus, which has
// no way to add one. vCPU threads only ever see the sealed Bus, so they look exits up without a
// lock, and the vCPU loop only calls dispatch_read/dispatch_write: it knows no device.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "vmm/bus/bus_device.h"

namespace rkt::vmm {

namespace bus_detail {
struct Range {
    uint64_t size;
    std::shared_ptr<BusDevice> device;
};
using RangeMap = std::map<uint64_t, Range>;  // by base address
}  // namespace bus_detail

// The immutable bus the vCPU threads dispatch on.
class Bus {
public:
    struct Match {
        BusDevice* device;
        uint64_t offset;
    };
    // The device whose range holds the whole access [address, address + length).
    std::optional<Match> find(uint64_t address, uint64_t length) const;

    // Returns false when no device holds the address (the caller decides what that means).
    bool dispatch_read(uint64_t address, std::span<uint8_t> data) const;
    bool dispatch_write(uint64_t address, std::span<const uint8_t> data) const;

    const std::string& name() const { return name_; }

private:
    friend class BusBuilder;
    Bus(std::string name, bus_detail::RangeMap ranges)
        : name_(std::move(name)), ranges_(std::move(ranges)) {}

    std::string name_;
    bus_detail::RangeMap ranges_;
};

class BusBuilder {
public:
    explicit BusBuilder(std::string name) : name_(std::move(name)) {}

    // Registers [base, base + size). Throws when the range is empty or wraps around, when it
    // overlaps a range already registered, or once the bus is sealed.
    void insert(uint64_t base, uint64_t size, std::shared_ptr<BusDevice> device);
    // The finished bus. Only once: the builder then refuses every insert.
    Bus seal();
    bool sealed() const { return sealed_; }

    const std::string& name() const { return name_; }

private:
    std::string name_;
    bus_detail::RangeMap ranges_;
    bool sealed_ = false;
};

}  // namespace rkt::vmm
