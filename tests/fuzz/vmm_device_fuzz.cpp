// Fuzz target for the built-in VMM's devices as a hostile guest drives them, without KVM: the
// virtio-mmio transport's registers and config space, virtqueues (descriptor chains, available
// and used rings), virtio-blk over a scratch disk, virtio-console (one port, and several named
// ports), virtio-net over a datagram socket pair, and the serial port and the i8042 controller.
// The guest's memory is two GuestMemory regions with a hole between them.
//
// Input: byte 0 selects the device; for virtio devices byte 1 says how the driver sets up first
// (bit 0: negotiate and set up queues as a guest driver does, bits 1-4: log2 of the queue size).
// Then operations, each an opcode byte and its operands (little-endian), until the input ends.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "test_support.h"
#include "vmm/devices/i8042.h"
#include "vmm/devices/serial.h"
#include "vmm/kvm/guest_memory.h"
#include "vmm/virtio/block.h"
#include "vmm/virtio/console.h"
#include "vmm/virtio/mmio_transport.h"
#include "vmm/virtio/net.h"

namespace {

using namespace rkt::vmm;

constexpr uint64_t kLowSize = 256 << 10, kHighBase = 1 << 20, kHighSize = 64 << 10;
constexpr uint64_t kDiskBytes = 64 << 10;
constexpr size_t kMaxOperations = 512;

class Input {
public:
    Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    bool empty() const { return pos_ >= size_; }
    uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
    uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
    uint32_t u32() { return u16() | (static_cast<uint32_t>(u16()) << 16); }
    uint64_t u64() { return u32() | (static_cast<uint64_t>(u32()) << 32); }
    std::vector<uint8_t> bytes(size_t n) {
        std::vector<uint8_t> out;
        while (out.size() < n && !empty()) out.push_back(u8());
        return out;
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

// A guest address: mostly inside the low region, sometimes in the high one or the hole.
uint64_t guest_address(Input& in) {
    uint32_t raw = in.u32();
    switch (raw & 3) {
        case 0:
        case 1:
            return (raw >> 2) % kLowSize;
        case 2:
            return kHighBase + (raw >> 2) % (kHighSize + 0x1000) - 0x800;
        default:
            return raw;
    }
}

void remove_disk();

const std::filesystem::path& disk_path() {
    static const std::filesystem::path path = [] {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "rkt-vmm-fuzz-disk-XXXXXX").string();
        int fd = ::mkstemp(tmpl.data());
        if (fd < 0) std::abort();
        ::close(fd);
        return std::filesystem::path(tmpl);
    }();
    static const bool registered = (std::atexit(remove_disk), true);
    (void)registered;
    return path;
}

void remove_disk() {
    std::error_code ec;
    std::filesystem::remove(disk_path(), ec);
}

// A fresh disk image for every input, so that inputs replay alike.
void reset_disk() {
    rkt::UniqueFd fd(::open(disk_path().c_str(), O_RDWR | O_CLOEXEC));
    if (!fd || ::ftruncate(fd.get(), 0) != 0 ||
        ::ftruncate(fd.get(), static_cast<off_t>(kDiskBytes)) != 0)
        std::abort();
    const char* label = "rkt fuzz disk";
    if (::pwrite(fd.get(), label, std::strlen(label), 512) < 0) std::abort();
}

struct SocketPair {
    rkt::UniqueFd device, host;
    explicit SocketPair(int type) {
        int sv[2];
        if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) std::abort();
        device.reset(sv[0]);
        host.reset(sv[1]);
    }
    void drain() const {
        uint8_t buf[4096];
        while (::recv(host.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) {
        }
    }
};

enum class Kind { kBlockWritable, kBlockReadOnly, kConsole, kConsolePorts, kNet, kSerial, kI8042 };

class VirtioSession {
public:
    VirtioSession(Kind kind, Input& in) : in_(in) {
        std::unique_ptr<VirtioDevice> device;
        switch (kind) {
            case Kind::kBlockWritable:
            case Kind::kBlockReadOnly:
                reset_disk();
                device = std::make_unique<BlockDevice>(
                    BlockDiskConfig{disk_path().string(), kind == Kind::kBlockReadOnly, "fuzz"});
                break;
            case Kind::kConsole:
                sockets_.emplace_back(SOCK_STREAM);
                device = console({{"", true, sockets_[0].device.get(), -1}});
                break;
            case Kind::kConsolePorts:
                sockets_.emplace_back(SOCK_STREAM);
                sockets_.emplace_back(SOCK_STREAM);
                null_.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
                device = console({{"", true, sockets_[0].device.get(), -1},
                                  {"org.rkt.fuzz", false, sockets_[1].device.get(), -1},
                                  {"log", false, -1, null_.get()}});
                break;
            default: {
                sockets_.emplace_back(SOCK_SEQPACKET);
                auto net = std::make_unique<NetDevice>(sockets_[0].device.get(),
                                                       std::array<uint8_t, 6>{2, 0, 0, 0, 0, 1});
                net_ = net.get();
                device = std::move(net);
                break;
            }
        }
        queues_ = device->queue_count();
        transport_ = std::make_unique<MmioTransport>(memory_, std::move(device), irq_);
        driver_ = std::make_unique<test::TestDriver>(memory_, *transport_);
    }

    void run() {
        uint8_t setup = in_.u8();
        if (setup & 1) {
            auto size = static_cast<uint16_t>(1u << ((setup >> 1) % 10));
            uint64_t features = driver_->device_features() & ~test::TestDriver::kNeedsReset;
            // virtio-net: one receive buffer per frame, or mergeable ones.
            if (setup & 0x80) features &= ~virtio::kNetFeatureMrgRxbuf;
            if (driver_->initialize(features, queues_, size) & test::TestDriver::kDriverOk)
                set_up_ = true;
        }
        for (size_t ops = 0; ops < kMaxOperations && !in_.empty(); ++ops) step();
        for (const auto& s : sockets_) s.drain();
    }

private:
    std::unique_ptr<VirtioDevice> console(const std::vector<ConsolePortConfig>& ports) {
        auto device = std::make_unique<ConsoleDevice>(ports);
        console_ = device.get();
        return device;
    }

    size_t queue_index() { return in_.u8() % queues_; }

    void step() {
        switch (in_.u8() % 12) {
            case 0: {  // a register write (QueueNotify included)
                uint64_t offset = (in_.u8() % 0x40) * 4ull;
                driver_->write(offset, in_.u32());
                break;
            }
            case 1:
                (void)driver_->read((in_.u8() % 0x40) * 4ull);
                break;
            case 2: {  // config space, any width and offset
                std::vector<uint8_t> buf(in_.u8() % 9);
                transport_->read(0x100 + in_.u8(), buf);
                break;
            }
            case 3: {
                uint64_t offset = 0x100 + in_.u8();
                std::vector<uint8_t> buf = in_.bytes(in_.u8() % 9);
                transport_->write(offset, buf);
                break;
            }
            case 4: {  // guest memory
                uint64_t address = guest_address(in_);
                std::vector<uint8_t> buf = in_.bytes(in_.u8());
                if (!buf.empty()) (void)memory_.write(address, buf);
                break;
            }
            case 5:
                if (set_up_) {
                    size_t q = queue_index();
                    auto& qu = driver_->queue(q);
                    auto index = static_cast<uint16_t>(in_.u16() % qu.size);
                    uint64_t address = guest_address(in_);
                    uint32_t length = in_.u32() % (kLowSize + 64);
                    uint16_t flags = in_.u16();
                    uint16_t next = in_.u16();
                    driver_->write_descriptor(q, index, address, length, flags, next);
                }
                break;
            case 6:
                if (set_up_) driver_->make_available(queue_index(), in_.u16());
                break;
            case 7:
                if (set_up_) driver_->set_available_index(queue_index(), in_.u16());
                break;
            case 8:
                transport_->notify_queue(in_.u8());
                break;
            case 9:
                if (set_up_) submit();
                break;
            case 10:
                host_event();
                break;
            case 11:
                if (set_up_) {
                    size_t q = queue_index();
                    while (driver_->next_used(q)) {
                    }
                }
                break;
        }
    }

    // A well-formed chain of up to 8 buffers (readable ones first when the flag bits say so).
    void submit() {
        size_t q = queue_index();
        size_t count = 1 + in_.u8() % 8;
        std::vector<test::Buffer> buffers;
        for (size_t i = 0; i < count; ++i) {
            uint64_t address = guest_address(in_);
            uint32_t length = in_.u16();
            buffers.push_back({address, length, (in_.u8() & 1) != 0});
        }
        if (buffers.size() > driver_->queue(q).size) buffers.resize(driver_->queue(q).size);
        driver_->submit(q, buffers);
        driver_->notify(q);
    }

    // The host side: bytes arrive from a console peer or the tap, or the peer goes away.
    void host_event() {
        uint8_t which = in_.u8();
        std::vector<uint8_t> bytes = in_.bytes(in_.u8());
        if (sockets_.empty()) return;
        SocketPair& s = sockets_[which % sockets_.size()];
        if (which & 0x80) {
            s.drain();
        } else if (!bytes.empty()) {
            (void)!::send(s.host.get(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        uint32_t events = (which & 0x40) ? EPOLLOUT : EPOLLIN;
        if (console_) console_->on_host_event(which % sockets_.size(), events);
        if (net_) net_->on_tap_event(events);
    }

    Input& in_;
    GuestMemory memory_{{{0, kLowSize}, {kHighBase, kHighSize}}};
    test::CountingLine irq_;
    std::vector<SocketPair> sockets_;
    rkt::UniqueFd null_;
    ConsoleDevice* console_ = nullptr;  // owned by the transport
    NetDevice* net_ = nullptr;          // owned by the transport
    size_t queues_ = 0;
    std::unique_ptr<MmioTransport> transport_;
    std::unique_ptr<test::TestDriver> driver_;
    bool set_up_ = false;
};

// The legacy port devices: a register access is one byte at an offset.
template <typename Device>
void drive_ports(Device& device, Input& in, uint64_t ports) {
    for (size_t ops = 0; ops < kMaxOperations && !in.empty(); ++ops) {
        uint8_t op = in.u8();
        uint64_t offset = in.u8() % (ports + 1);
        std::vector<uint8_t> buf(1 + (op >> 6) % 4);
        if (op & 1) {
            buf[0] = in.u8();
            device.write(offset, buf);
        } else {
            device.read(offset, buf);
        }
        if constexpr (std::is_same_v<Device, Serial>) {
            if (op & 2) {
                std::vector<uint8_t> input = in.bytes(in.u8() % 64);
                (void)device.enqueue_input(input);
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    Input in(data + 1, size - 1);
    auto kind = static_cast<Kind>(data[0] % 7);
    if (kind == Kind::kSerial) {
        test::CountingLine irq;
        rkt::UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
        Serial serial(irq, null.get());
        drive_ports(serial, in, Serial::kPortCount);
        serial.flush();
        return 0;
    }
    if (kind == Kind::kI8042) {
        test::CountingLine irq;
        int resets = 0;
        I8042 controller(irq, [&] { ++resets; });
        drive_ports(controller, in, I8042::kPortCount);
        return 0;
    }
    try {
        VirtioSession(kind, in).run();
    } catch (const rkt::Error&) {
        std::abort();  // nothing the guest does may make the VMM throw
    }
    return 0;
}
