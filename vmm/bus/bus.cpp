#include "vmm/bus/bus.h"

#include "common/error.h"
#include "common/strings.h"

namespace rkt::vmm {

using strings::hex;

void BusBuilder::insert(uint64_t base, uint64_t size, std::shared_ptr<BusDevice> device) {
    if (sealed_)
        throw Error(name_ + " bus: cannot add a device at " + hex(base) +
                    ": devices are added before the VM runs");
    if (size == 0 || base + size < base) throw Error(name_ + " bus: invalid range at " + hex(base));
    auto next = ranges_.lower_bound(base);
    if (next != ranges_.end() && next->first < base + size)
        throw Error(name_ + " bus: range " + hex(base) + " overlaps the device at " +
                    hex(next->first));
    if (next != ranges_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second.size > base)
            throw Error(name_ + " bus: range " + hex(base) + " overlaps the device at " +
                        hex(prev->first));
    }
    ranges_.emplace(base, bus_detail::Range{size, std::move(device)});
}

Bus BusBuilder::seal() {
    if (sealed_) throw Error(name_ + " bus: already sealed");
    sealed_ = true;
    return Bus(name_, std::move(ranges_));
}

std::optional<Bus::Match> Bus::find(uint64_t address, uint64_t length) const {
    auto it = ranges_.upper_bound(address);
    if (it == ranges_.begin()) return std::nullopt;
    --it;
    uint64_t offset = address - it->first;
    if (offset >= it->second.size || length > it->second.size - offset) return std::nullopt;
    return Match{it->second.device.get(), offset};
}

bool Bus::dispatch_read(uint64_t address, std::span<uint8_t> data) const {
    auto m = find(address, data.size());
    if (!m) return false;
    m->device->read(m->offset, data);
    return true;
}

bool Bus::dispatch_write(uint64_t address, std::span<const uint8_t> data) const {
    auto m = find(address, data.size());
    if (!m) return false;
    m->device->write(m->offset, data);
    return true;
}

}  // namespace rkt::vmm
