// The one interface every emulated device implements. A device sees offsets relative to the base
// of the range it was registered at, and the access width as the span's size (1, 2, 4 or 8).
// Devices are called from vCPU threads, so each one guards its own state.
#pragma once

#include <cstdint>
#include <span>

namespace rkt::vmm {

class BusDevice {
public:
    virtual ~BusDevice() = default;
    virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
    virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

}  // namespace rkt::vmm
