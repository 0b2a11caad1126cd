// Helpers for the VMM unit and KVM tests: an interrupt line that counts, temporary files, a pipe,
// and a virtio driver that sets up split rings in a GuestMemory and talks to a transport through
// its registers, as a guest's driver would.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "vmm/bus/bus_device.h"
#include "vmm/bus/interrupt_line.h"
#include "vmm/kvm/guest_memory.h"
#include "vmm/virtio/mmio_transport.h"

namespace rkt::vmm::test {

class CountingLine : public InterruptLine {
public:
    void trigger() override { ++count; }
    int count = 0;
};

// A file in a fresh temporary directory, removed with it.
class TempDir {
public:
    TempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "rkt-vmm-test-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::filesystem::path path(const std::string& name) const { return path_ / name; }
    std::filesystem::path root() const { return path_; }

private:
    std::filesystem::path path_;
};

// One-byte register accesses, as a guest's inb/outb reach a device.
inline uint8_t read_byte(BusDevice& device, uint64_t offset) {
    uint8_t value = 0;
    device.read(offset, {&value, 1});
    return value;
}
inline void write_byte(BusDevice& device, uint64_t offset, uint8_t value) {
    device.write(offset, {&value, 1});
}

void write_bytes(const std::filesystem::path& p, const std::vector<uint8_t>& bytes);
std::vector<uint8_t> read_bytes(const std::filesystem::path& p);

// A non-blocking pipe a device writes into and the test drains.
struct Pipe {
    Pipe();
    std::string drain();  // what is in it now
    UniqueFd read_end, write_end;
};

struct Buffer {
    uint64_t address;
    uint32_t length;
    bool device_writable;
};

// Register offsets of virtio-mmio.
namespace reg {
inline constexpr uint64_t kMagic = 0x000, kVersion = 0x004, kDeviceId = 0x008,
                          kDeviceFeatures = 0x010, kDeviceFeaturesSel = 0x014,
                          kDriverFeatures = 0x020, kDriverFeaturesSel = 0x024, kQueueSel = 0x030,
                          kQueueNumMax = 0x034, kQueueNum = 0x038, kQueueReady = 0x044,
                          kQueueNotify = 0x050, kInterruptStatus = 0x060, kInterruptAck = 0x064,
                          kStatus = 0x070, kQueueDescLow = 0x080, kQueueDescHigh = 0x084,
                          kQueueDriverLow = 0x090, kQueueDriverHigh = 0x094,
                          kQueueDeviceLow = 0x0a0, kQueueDeviceHigh = 0x0a4, kConfig = 0x100;
}

class TestDriver {
public:
    static constexpr uint32_t kAcknowledge = 1, kDriver = 2, kDriverOk = 4, kFeaturesOk = 8,
                              kNeedsReset = 64;

    TestDriver(const GuestMemory& memory, MmioTransport& transport, uint64_t ring_area = 0x10000)
        : memory_(memory), transport_(transport), next_ring_(ring_area) {}

    uint32_t read(uint64_t offset);
    void write(uint64_t offset, uint32_t value);
    uint64_t device_features();

    // Reset, negotiate `features` (VERSION_1 is added), set up `queues` queues of `size`, and
    // set DRIVER_OK. Returns the final status register.
    uint32_t initialize(uint64_t features, size_t queues, uint16_t size = 16);

    // Places a chain of buffers in queue `q` and makes it available (does not notify).
    uint16_t submit(size_t q, const std::vector<Buffer>& buffers);
    // Makes descriptor `head` available without writing descriptors (for hostile tests).
    void make_available(size_t q, uint16_t head);
    void set_available_index(size_t q, uint16_t index);
    void write_descriptor(size_t q, uint16_t index, uint64_t address, uint32_t length,
                          uint16_t flags, uint16_t next);
    void notify(size_t q) { write(reg::kQueueNotify, static_cast<uint32_t>(q)); }
    // The next used element of queue `q` not yet seen: (id, written length).
    std::optional<std::pair<uint32_t, uint32_t>> next_used(size_t q);

    struct Queue {
        uint16_t size = 0;
        uint64_t desc = 0, avail = 0, used = 0;
        uint16_t next_desc = 0;
        uint16_t avail_idx = 0;
        uint16_t seen_used = 0;
    };
    Queue& queue(size_t q) { return queues_.at(q); }

private:
    const GuestMemory& memory_;
    MmioTransport& transport_;
    uint64_t next_ring_;
    std::vector<Queue> queues_;
};

}  // namespace rkt::vmm::test
