#include "vmm/virtio/virtqueue.h"

#include <algorithm>

namespace rkt::vmm {
namespace {

constexpr uint16_t kDescNext = 1, kDescWrite = 2, kDescIndirect = 4;
constexpr uint16_t kAvailNoInterrupt = 1;
constexpr uint64_t kDescriptorSize = 16;

struct RawDescriptor {
    uint64_t address;
    uint32_t length;
    uint16_t flags;
    uint16_t next;
};
static_assert(sizeof(RawDescriptor) == kDescriptorSize);

uint64_t available_ring_bytes(uint16_t size) {
    return 6 + 2ull * size;
}
uint64_t used_ring_bytes(uint16_t size) {
    return 6 + 8ull * size;
}

}  // namespace

std::optional<std::string> Virtqueue::validate(const QueueConfig& c, const GuestMemory& memory,
                                               const QueueLimits& limits) {
    if (c.size == 0 || c.size > limits.max_size || (c.size & (c.size - 1)) != 0)
        return "queue size " + std::to_string(c.size) + " is not a power of two up to " +
               std::to_string(limits.max_size);
    if (c.descriptor_table % 16 != 0 || c.available_ring % 2 != 0 || c.used_ring % 4 != 0)
        return std::string("queue rings are misaligned");
    if (!memory.contains(c.descriptor_table, kDescriptorSize * c.size) ||
        !memory.contains(c.available_ring, available_ring_bytes(c.size)) ||
        !memory.contains(c.used_ring, used_ring_bytes(c.size)))
        return std::string("queue rings lie outside guest memory");
    return std::nullopt;
}

Virtqueue::Virtqueue(const GuestMemory& memory, const QueueConfig& config,
                     const QueueLimits& limits)
    : memory_(memory), config_(config), limits_(limits) {}

std::optional<uint16_t> Virtqueue::available_index() const {
    return memory_.load_acquire_u16(config_.available_ring + 2);
}

bool Virtqueue::has_available() const {
    if (broken() || !config_.ready) return false;
    auto idx = available_index();
    return idx && *idx != next_available_;
}

std::optional<DescriptorChain> Virtqueue::pop() {
    if (broken() || !config_.ready) return std::nullopt;
    auto idx = available_index();
    if (!idx) {
        broken_reason_ = "available ring unreadable";
        return std::nullopt;
    }
    uint16_t pending = static_cast<uint16_t>(*idx - next_available_);
    if (pending == 0) return std::nullopt;
    if (pending > config_.size) {
        broken_reason_ = "available index ran " + std::to_string(pending) +
                         " entries ahead of a queue of " + std::to_string(config_.size);
        return std::nullopt;
    }
    uint64_t slot = config_.available_ring + 4 + 2ull * (next_available_ % config_.size);
    auto head = memory_.read_obj<uint16_t>(slot);
    if (!head || *head >= config_.size) {
        broken_reason_ = "available ring names descriptor " +
                         std::to_string(head.value_or(0xffff)) + " of " +
                         std::to_string(config_.size);
        return std::nullopt;
    }
    ++next_available_;
    DescriptorChain chain;
    chain.head = *head;
    walk_chain(*head, chain);
    if (!chain.ok()) {
        chain.readable.clear();
        chain.writable.clear();
        chain.readable_bytes = chain.writable_bytes = 0;
    }
    return chain;
}

void Virtqueue::walk_chain(uint16_t head, DescriptorChain& chain) const {
    uint16_t index = head;
    uint64_t total = 0;
    // A chain visits each descriptor at most once, so more than `size` steps means a loop.
    for (uint32_t steps = 0;; ++steps) {
        if (steps >= config_.size) {
            chain.error = "descriptor chain loops or is longer than the queue";
            return;
        }
        auto d =
            memory_.read_obj<RawDescriptor>(config_.descriptor_table + kDescriptorSize * index);
        if (!d) {
            chain.error = "descriptor table unreadable";
            return;
        }
        if (d->flags & kDescIndirect) {
            chain.error = "indirect descriptor, a feature this device does not offer";
            return;
        }
        if (d->length > 0 && !memory_.contains(d->address, d->length)) {
            chain.error = "descriptor buffer lies outside guest memory";
            return;
        }
        total += d->length;
        if (total > limits_.max_chain_bytes) {
            chain.error =
                "request larger than " + std::to_string(limits_.max_chain_bytes) + " bytes";
            return;
        }
        if (d->flags & kDescWrite) {
            chain.writable.push_back({d->address, d->length});
            chain.writable_bytes += d->length;
        } else {
            if (!chain.writable.empty()) {
                chain.error = "device-readable descriptor after a device-writable one";
                return;
            }
            chain.readable.push_back({d->address, d->length});
            chain.readable_bytes += d->length;
        }
        if (!(d->flags & kDescNext)) return;
        if (d->next >= config_.size) {
            chain.error = "descriptor chain points past the table";
            return;
        }
        index = d->next;
    }
}

void Virtqueue::undo_pop(uint16_t count) {
    next_available_ = static_cast<uint16_t>(next_available_ - count);
}

void Virtqueue::add_used(uint16_t head, uint32_t written) {
    if (broken() || !config_.ready) return;
    uint64_t slot = config_.used_ring + 4 + 8ull * (next_used_ % config_.size);
    struct {
        uint32_t id;
        uint32_t len;
    } element{head, written};
    // Both writes stay inside the ring validated at activation.
    if (!memory_.write_obj(slot, element) ||
        !memory_.store_release_u16(config_.used_ring + 2, ++next_used_))
        broken_reason_ = "used ring unwritable";
}

bool Virtqueue::needs_interrupt() const {
    auto flags = memory_.read_obj<uint16_t>(config_.available_ring);
    return !flags || (*flags & kAvailNoInterrupt) == 0;
}

namespace {
// Walks `buffers` as one byte range and calls fn(host span) for [offset, offset + length).
template <typename Fn>
bool for_each_piece(const GuestMemory& memory, const std::vector<Descriptor>& buffers,
                    uint64_t offset, uint64_t length, Fn&& fn) {
    for (const auto& d : buffers) {
        if (length == 0) break;
        if (offset >= d.length) {
            offset -= d.length;
            continue;
        }
        uint64_t n = std::min<uint64_t>(d.length - offset, length);
        auto s = memory.slice(d.address + offset, n);
        if (!s) return false;
        fn(*s);
        length -= n;
        offset = 0;
    }
    return length == 0;
}
}  // namespace

bool read_chain(const GuestMemory& memory, const DescriptorChain& chain, uint64_t offset,
                std::span<uint8_t> out) {
    size_t done = 0;
    return for_each_piece(memory, chain.readable, offset, out.size(), [&](std::span<uint8_t> s) {
        std::copy(s.begin(), s.end(), out.begin() + static_cast<std::ptrdiff_t>(done));
        done += s.size();
    });
}

bool write_chain(const GuestMemory& memory, const DescriptorChain& chain, uint64_t offset,
                 std::span<const uint8_t> data) {
    size_t done = 0;
    return for_each_piece(memory, chain.writable, offset, data.size(), [&](std::span<uint8_t> s) {
        std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(done), s.size(), s.begin());
        done += s.size();
    });
}

std::vector<std::span<uint8_t>> chain_slices(const GuestMemory& memory,
                                             const std::vector<Descriptor>& buffers,
                                             uint64_t offset, uint64_t length) {
    std::vector<std::span<uint8_t>> out;
    if (!for_each_piece(memory, buffers, offset, length,
                        [&](std::span<uint8_t> s) { out.push_back(s); }))
        out.clear();
    return out;
}

}  // namespace rkt::vmm
