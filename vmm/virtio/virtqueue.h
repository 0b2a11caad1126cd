// A split virtqueue (virtio 1.2, 2.7) read from and written to guest memory through the
// bounds-checked accessors only. The guest is hostile: every chain is validated before a device
// sees it (indexes in range, buffers inside guest RAM, readable before writable, bounded length,
// no loops, no indirect tables since we never offer them), and a lying avail index breaks the
// queue instead of sending the VMM round in circles.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vmm/kvm/guest_memory.h"

namespace rkt::vmm {

// What the driver programmed through the transport.
struct QueueConfig {
    uint16_t size = 0;
    bool ready = false;
    uint64_t descriptor_table = 0;
    uint64_t available_ring = 0;
    uint64_t used_ring = 0;
};

struct Descriptor {
    uint64_t address;
    uint32_t length;
};

// A validated chain: the buffers the device reads, then the buffers it writes.
struct DescriptorChain {
    uint16_t head = 0;
    std::vector<Descriptor> readable;
    std::vector<Descriptor> writable;
    uint64_t readable_bytes = 0;
    uint64_t writable_bytes = 0;
    // Set when the chain is malformed: the device must not touch its buffers and returns it
    // to the guest with length 0.
    std::string error;
    bool ok() const { return error.empty(); }
};

struct QueueLimits {
    uint16_t max_size = 256;
    uint64_t max_chain_bytes = 16u << 20;  // a request larger than this is refused
};

class Virtqueue {
public:
    // Checks `config` against guest memory: returns the reason when it cannot be used.
    static std::optional<std::string> validate(const QueueConfig& config, const GuestMemory& memory,
                                               const QueueLimits& limits = {});

    // `config` must have passed validate().
    Virtqueue(const GuestMemory& memory, const QueueConfig& config, const QueueLimits& limits = {});

    // The next chain the guest made available, or nullopt when there is none or the queue is
    // broken. A malformed chain is returned with `error` set, already consumed.
    std::optional<DescriptorChain> pop();
    // Gives the last `count` popped chains back (the device could not take them yet); they must
    // not have been added to the used ring.
    void undo_pop(uint16_t count = 1);
    // Hands a chain back to the guest with `written` bytes of its writable part filled.
    void add_used(uint16_t head, uint32_t written);
    // Whether the guest wants an interrupt for what was added (VRING_AVAIL_F_NO_INTERRUPT).
    bool needs_interrupt() const;
    // Whether chains are waiting (does not consume them).
    bool has_available() const;

    // True once the guest corrupted the ring itself; the device then asks for a reset.
    bool broken() const { return !broken_reason_.empty(); }
    const std::string& broken_reason() const { return broken_reason_; }
    uint16_t size() const { return config_.size; }

private:
    std::optional<uint16_t> available_index() const;
    void walk_chain(uint16_t head, DescriptorChain& chain) const;

    const GuestMemory& memory_;
    QueueConfig config_;
    QueueLimits limits_;
    uint16_t next_available_ = 0;
    uint16_t next_used_ = 0;
    std::string broken_reason_;
};

// Copies between a chain's buffers and the host, as if the readable (or writable) buffers were
// one contiguous byte range. Return false when the range runs past the chain.
bool read_chain(const GuestMemory& memory, const DescriptorChain& chain, uint64_t offset,
                std::span<uint8_t> out);
bool write_chain(const GuestMemory& memory, const DescriptorChain& chain, uint64_t offset,
                 std::span<const uint8_t> data);
// Host views of [offset, offset + length) of the readable or writable part (for readv/writev).
std::vector<std::span<uint8_t>> chain_slices(const GuestMemory& memory,
                                             const std::vector<Descriptor>& buffers,
                                             uint64_t offset, uint64_t length);

}  // namespace rkt::vmm
