// An address space (port I/O or MMIO) of non-overlapping ranges, each owned by one device.
// Filled while the VM is built and read-only afterwards, so vCPU threads look exits up without
// a lock. The vCPU loop only calls dispatch_read/dispatch_write; it knows no device.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "vmm/bus/bus_device.h"

namespace rkt::vmm {

class Bus {
public:
    explicit Bus(std::string name) : name_(std::move(name)) {}

    // Registers [base, base + size). Throws when it overlaps a range already registered.
    void insert(uint64_t base, uint64_t size, std::shared_ptr<BusDevice> device);

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
    struct Range {
        uint64_t size;
        std::shared_ptr<BusDevice> device;
    };
    std::string name_;
    std::map<uint64_t, Range> ranges_;  // by base address
};

}  // namespace rkt::vmm
