// The KVM exit policy without KVM: every exit reason, fabricated in a kvm_run area laid out as
// KVM lays out its mapping (the kvm_run, then port I/O data one page in).
#include "vmm/exit_policy.h"

#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/error.h"
#include "common/log.h"

using namespace rkt::vmm;

namespace rkt::vmm {
// Lets GoogleTest print exit reasons by name.
void PrintTo(VmExitReason reason, std::ostream* os) {  // NOLINT(readability-identifier-naming)
    *os << to_string(reason);
}
}  // namespace rkt::vmm

namespace {

constexpr uint64_t kPage = 4096;

// A device that records accesses and answers reads with offset + 0x10 + byte index.
class Recorder : public BusDevice {
public:
    struct Access {
        uint64_t offset;
        std::vector<uint8_t> bytes;
    };
    void read(uint64_t offset, std::span<uint8_t> data) override {
        reads.push_back({offset, std::vector<uint8_t>(data.size())});
        for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(offset + 0x10 + i);
    }
    void write(uint64_t offset, std::span<const uint8_t> data) override {
        writes.push_back({offset, {data.begin(), data.end()}});
    }
    std::vector<Access> reads, writes;
};

class Failing : public BusDevice {
public:
    void read(uint64_t, std::span<uint8_t>) override { throw std::runtime_error("device broke"); }
    void write(uint64_t, std::span<const uint8_t>) override {
        throw std::runtime_error("device broke");
    }
};

class ExitPolicyTest : public ::testing::Test {
protected:
    static constexpr uint64_t kPortBase = 0x3f8, kMmioBase = 0xc0001000;

    ExitPolicyTest() {
        BusBuilder pio("port I/O"), mmio("MMIO");
        pio.insert(kPortBase, 8, port_device_);
        pio.insert(0x60, 1, port_device_);
        pio.insert(0x500, 4, std::make_shared<Failing>());
        mmio.insert(kMmioBase, 0x1000, mmio_device_);
        pio_bus_.emplace(pio.seal());
        mmio_bus_.emplace(mmio.seal());
    }
    void TearDown() override { rkt::log::set_debug(false); }

    kvm_run& run() { return *reinterpret_cast<kvm_run*>(storage_.data()); }
    uint8_t* io_data() { return reinterpret_cast<uint8_t*>(storage_.data()) + kPage; }

    void set_io(uint8_t direction, uint16_t port, uint8_t size, uint32_t count) {
        run().exit_reason = KVM_EXIT_IO;
        run().io.direction = direction;
        run().io.port = port;
        run().io.size = size;
        run().io.count = count;
        run().io.data_offset = kPage;
    }
    void set_mmio(uint64_t address, uint32_t length, bool write) {
        run().exit_reason = KVM_EXIT_MMIO;
        run().mmio.phys_addr = address;
        run().mmio.len = length;
        run().mmio.is_write = write;
    }

    ExitAction handle(size_t area = 3 * kPage) {
        ExitSource source{"vcpu 1", {reinterpret_cast<uint8_t*>(storage_.data()), area}, [this] {
                              ++rip_reads_;
                              return uint64_t{0xffffffff81000123};
                          }};
        return handle_kvm_exit(source, {*pio_bus_, *mmio_bus_}, unclaimed_);
    }
    VmExit stopped(size_t area = 3 * kPage) {
        ExitAction action = handle(area);
        EXPECT_FALSE(action.resumes());
        return action.stop.value_or(VmExit{});
    }
    // The exit in the run area ends the VM with `reason` and `message`, not cleanly.
    void expect_failure_stop(VmExitReason reason, const std::string& message) {
        VmExit exit = stopped();
        EXPECT_EQ(exit.reason, reason);
        EXPECT_EQ(exit.message, message);
        EXPECT_FALSE(exit.clean());
    }

    std::vector<uint64_t> storage_ = std::vector<uint64_t>(3 * kPage / 8);  // 8-byte aligned
    std::shared_ptr<Recorder> port_device_ = std::make_shared<Recorder>();
    std::shared_ptr<Recorder> mmio_device_ = std::make_shared<Recorder>();
    std::optional<Bus> pio_bus_, mmio_bus_;
    UnclaimedAccessLog unclaimed_;
    int rip_reads_ = 0;
};

TEST_F(ExitPolicyTest, PortWritesOfEachSizeReachTheDeviceAtTheirOffset) {
    for (uint8_t size : {1, 2, 4}) {
        port_device_->writes.clear();
        set_io(KVM_EXIT_IO_OUT, kPortBase + 2, size, 1);
        for (uint8_t i = 0; i < size; ++i) io_data()[i] = static_cast<uint8_t>(0xa0 + i);
        EXPECT_TRUE(handle().resumes());
        ASSERT_EQ(port_device_->writes.size(), 1u) << "size " << int{size};
        EXPECT_EQ(port_device_->writes[0].offset, 2u);
        std::vector<uint8_t> expected(io_data(), io_data() + size);
        EXPECT_EQ(port_device_->writes[0].bytes, expected);
    }
    EXPECT_EQ(rip_reads_, 0);  // the hot path reads no registers
}

TEST_F(ExitPolicyTest, PortReadsOfEachSizeAreAnsweredInTheRunArea) {
    for (uint8_t size : {1, 2, 4}) {
        std::memset(io_data(), 0, 8);
        set_io(KVM_EXIT_IO_IN, kPortBase + 4, size, 1);
        EXPECT_TRUE(handle().resumes());
        for (uint8_t i = 0; i < size; ++i) EXPECT_EQ(io_data()[i], 0x14 + i);
        EXPECT_EQ(io_data()[size], 0) << "a read wrote past its size " << int{size};
    }
    EXPECT_EQ(port_device_->reads.size(), 3u);
}

TEST_F(ExitPolicyTest, StringIoDispatchesEachElement) {
    set_io(KVM_EXIT_IO_OUT, kPortBase, 2, 3);
    for (uint8_t i = 0; i < 6; ++i) io_data()[i] = i;
    EXPECT_TRUE(handle().resumes());
    ASSERT_EQ(port_device_->writes.size(), 3u);
    EXPECT_EQ(port_device_->writes[2].bytes, (std::vector<uint8_t>{4, 5}));

    set_io(KVM_EXIT_IO_IN, kPortBase + 1, 1, 4);
    EXPECT_TRUE(handle().resumes());
    EXPECT_EQ(std::vector<uint8_t>(io_data(), io_data() + 4),
              (std::vector<uint8_t>{0x11, 0x11, 0x11, 0x11}));
}

TEST_F(ExitPolicyTest, UnclaimedPortsReadHighAndDropWrites) {
    rkt::log::set_debug(true);
    set_io(KVM_EXIT_IO_IN, 0x2f8, 4, 1);
    std::memset(io_data(), 0, 4);
    EXPECT_TRUE(handle().resumes());
    EXPECT_EQ(std::vector<uint8_t>(io_data(), io_data() + 4), std::vector<uint8_t>(4, 0xff));
    set_io(KVM_EXIT_IO_OUT, 0x80, 1, 1);  // Linux's I/O delay: expected, never logged
    EXPECT_TRUE(handle().resumes());
    // An access that runs past the end of a device's range belongs to no device.
    set_io(KVM_EXIT_IO_IN, 0x60, 2, 1);
    EXPECT_TRUE(handle().resumes());
    EXPECT_EQ(io_data()[0], 0xff);
    EXPECT_EQ(io_data()[1], 0xff);
    EXPECT_TRUE(port_device_->reads.empty());
    EXPECT_TRUE(port_device_->writes.empty());
    EXPECT_EQ(unclaimed_.logged(), (std::set<uint64_t>{0x60, 0x2f8}));
}

TEST_F(ExitPolicyTest, UnclaimedAddressesAreLoggedOnlyWithDebugAndBounded) {
    set_io(KVM_EXIT_IO_OUT, 0x2f8, 1, 1);
    EXPECT_TRUE(handle().resumes());
    EXPECT_TRUE(unclaimed_.logged().empty());
    rkt::log::set_debug(true);
    testing::internal::CaptureStderr();
    for (uint64_t a = 0; a < 2 * UnclaimedAccessLog::kMaxAddresses; ++a) {
        set_mmio(0xd0000000 + 8 * a, 4, true);
        EXPECT_TRUE(handle().resumes());
        EXPECT_TRUE(handle().resumes());  // the same address again: logged once
    }
    std::string printed = testing::internal::GetCapturedStderr();
    EXPECT_EQ(unclaimed_.logged().size(), UnclaimedAccessLog::kMaxAddresses);
    EXPECT_NE(printed.find("wrote unhandled MMIO 0xd0000000 (ignored)"), std::string::npos);
}

TEST_F(ExitPolicyTest, MalformedPortExitsEndTheVmWithoutTouchingADevice) {
    struct Case {
        uint8_t direction, size;
        uint32_t count;
        uint64_t offset;
    };
    for (Case c : {Case{KVM_EXIT_IO_OUT, 3, 1, kPage}, Case{KVM_EXIT_IO_IN, 8, 1, kPage},
                   Case{KVM_EXIT_IO_IN, 0, 1, kPage}, Case{2, 1, 1, kPage},
                   Case{KVM_EXIT_IO_OUT, 1, 1, 3 * kPage},
                   Case{KVM_EXIT_IO_OUT, 4, 2 * kPage / 4 + 1, kPage},
                   Case{KVM_EXIT_IO_IN, 4, 0xffffffff, kPage}}) {
        set_io(c.direction, kPortBase, c.size, c.count);
        run().io.data_offset = c.offset;
        VmExit exit = stopped();
        EXPECT_EQ(exit.reason, VmExitReason::kVmmError) << int{c.size} << " " << c.count;
        EXPECT_NE(exit.message.find("vcpu 1: KVM reported a malformed port I/O exit"),
                  std::string::npos)
            << exit.message;
    }
    EXPECT_TRUE(port_device_->reads.empty());
    EXPECT_TRUE(port_device_->writes.empty());
    // Up to the last byte of the area is still inside it.
    set_io(KVM_EXIT_IO_OUT, kPortBase, 4, 2 * kPage / 4);
    EXPECT_TRUE(handle().resumes());
    EXPECT_EQ(port_device_->writes.size(), 2 * kPage / 4);
}

TEST_F(ExitPolicyTest, MmioOfEachLengthReachesTheDevice) {
    for (uint32_t length : {1u, 2u, 4u, 8u}) {
        port_device_->writes.clear();
        mmio_device_->writes.clear();
        set_mmio(kMmioBase + 0x70, length, true);
        for (uint32_t i = 0; i < 8; ++i) run().mmio.data[i] = static_cast<uint8_t>(0x40 + i);
        EXPECT_TRUE(handle().resumes());
        ASSERT_EQ(mmio_device_->writes.size(), 1u);
        EXPECT_EQ(mmio_device_->writes[0].offset, 0x70u);
        EXPECT_EQ(mmio_device_->writes[0].bytes,
                  std::vector<uint8_t>(run().mmio.data, run().mmio.data + length));

        set_mmio(kMmioBase + 0x100, length, false);
        std::memset(run().mmio.data, 0, 8);
        EXPECT_TRUE(handle().resumes());
        for (uint32_t i = 0; i < 8; ++i)
            EXPECT_EQ(run().mmio.data[i], i < length ? ((0x110 + i) & 0xff) : 0) << length;
    }
    EXPECT_TRUE(port_device_->writes.empty());  // MMIO never reaches the port bus
    EXPECT_EQ(rip_reads_, 0);
}

TEST_F(ExitPolicyTest, UnclaimedMmioReadsAllOnes) {
    set_mmio(0xfeb00000, 4, false);
    std::memset(run().mmio.data, 0, 8);
    EXPECT_TRUE(handle().resumes());
    EXPECT_EQ(std::vector<uint8_t>(run().mmio.data, run().mmio.data + 8),
              (std::vector<uint8_t>{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}));
    set_mmio(kMmioBase + 0xffc, 8, false);  // runs past the device's page
    EXPECT_TRUE(handle().resumes());
    EXPECT_TRUE(mmio_device_->reads.empty());
    set_mmio(0xfeb00000, 4, true);
    EXPECT_TRUE(handle().resumes());
    EXPECT_TRUE(mmio_device_->writes.empty());
}

TEST_F(ExitPolicyTest, MalformedMmioExitsEndTheVm) {
    for (uint32_t length : {0u, 9u, 16u, 0xffffffffu}) {
        set_mmio(kMmioBase, length, length % 2 == 0);
        VmExit exit = stopped();
        EXPECT_EQ(exit.reason, VmExitReason::kVmmError);
        EXPECT_NE(exit.message.find("vcpu 1: KVM reported a malformed MMIO exit (address " +
                                    std::string("0xc0001000, length ") + std::to_string(length)),
                  std::string::npos)
            << exit.message;
    }
    EXPECT_TRUE(mmio_device_->reads.empty());
    EXPECT_TRUE(mmio_device_->writes.empty());
}

TEST_F(ExitPolicyTest, ADeviceErrorReachesTheVcpuLoop) {
    set_io(KVM_EXIT_IO_OUT, 0x500, 4, 1);
    EXPECT_THROW(handle(), std::runtime_error);
}

TEST_F(ExitPolicyTest, InterruptedRunsResume) {
    run().exit_reason = KVM_EXIT_INTR;
    EXPECT_TRUE(handle().resumes());
}

TEST_F(ExitPolicyTest, HaltEndsTheVm) {
    run().exit_reason = KVM_EXIT_HLT;
    expect_failure_stop(VmExitReason::kGuestHalted, "vcpu 1 halted");
}

TEST_F(ExitPolicyTest, ShutdownIsATripleFaultAtTheRip) {
    run().exit_reason = KVM_EXIT_SHUTDOWN;
    expect_failure_stop(VmExitReason::kTripleFault,
                        "vcpu 1 shut down (triple fault) at rip 0xffffffff81000123");
    EXPECT_EQ(rip_reads_, 1);
}

TEST_F(ExitPolicyTest, EntryFailureNamesTheHardwareReason) {
    run().exit_reason = KVM_EXIT_FAIL_ENTRY;
    run().fail_entry.hardware_entry_failure_reason = 0x80000021;
    expect_failure_stop(VmExitReason::kEntryFailure,
                        "vcpu 1: KVM could not enter the guest, hardware reason 0x80000021");
}

TEST_F(ExitPolicyTest, InternalErrorsNameTheirSuberror) {
    struct Case {
        uint32_t suberror;
        const char* name;
    };
    for (Case c : {Case{KVM_INTERNAL_ERROR_EMULATION, "instruction emulation failed"},
                   Case{KVM_INTERNAL_ERROR_SIMUL_EX, "exception while delivering an exception"},
                   Case{KVM_INTERNAL_ERROR_DELIVERY_EV, "event delivery failed"},
                   Case{KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON, "unexpected exit reason"},
                   Case{77, "unknown suberror"}}) {
        run().exit_reason = KVM_EXIT_INTERNAL_ERROR;
        run().internal.suberror = c.suberror;
        run().internal.ndata = 0;
        expect_failure_stop(VmExitReason::kInternalError,
                            "vcpu 1: KVM internal error, suberror " + std::to_string(c.suberror) +
                                " (" + c.name + ") at rip 0xffffffff81000123");
    }
}

TEST_F(ExitPolicyTest, InternalErrorsShowAtMostFourDataWords) {
    run().exit_reason = KVM_EXIT_INTERNAL_ERROR;
    run().internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
    for (uint32_t i = 0; i < 16; ++i) run().internal.data[i] = 0x10 + i;
    run().internal.ndata = 2;
    EXPECT_NE(stopped().message.find("at rip 0xffffffff81000123, data 0x10 0x11"),
              std::string::npos);
    run().internal.ndata = 0xffffffff;  // more than the array holds
    std::string message = stopped().message;
    EXPECT_NE(message.find(", data 0x10 0x11 0x12 0x13"), std::string::npos) << message;
    EXPECT_EQ(message.find("0x14"), std::string::npos) << message;
}

TEST_F(ExitPolicyTest, SystemEventsEndTheVmByType) {
    struct Case {
        uint32_t type;
        VmExitReason reason;
        const char* message;
        bool clean;
    };
    for (Case c : {Case{KVM_SYSTEM_EVENT_SHUTDOWN, VmExitReason::kGuestPowerOff,
                        "the guest powered off", true},
                   Case{KVM_SYSTEM_EVENT_RESET, VmExitReason::kGuestReset, "the guest reset", true},
                   Case{KVM_SYSTEM_EVENT_CRASH, VmExitReason::kGuestCrash,
                        "the guest reported a crash (system event 3)", false},
                   Case{99, VmExitReason::kGuestCrash,
                        "the guest reported a crash (system event 99)", false}}) {
        run().exit_reason = KVM_EXIT_SYSTEM_EVENT;
        run().system_event.type = c.type;
        VmExit exit = stopped();
        EXPECT_EQ(exit.reason, c.reason) << c.type;
        EXPECT_EQ(exit.message, c.message);
        EXPECT_EQ(exit.clean(), c.clean);
    }
}

TEST_F(ExitPolicyTest, UnknownReasonsEndTheVm) {
    for (uint32_t reason : {uint32_t{KVM_EXIT_UNKNOWN}, uint32_t{KVM_EXIT_DEBUG},
                            uint32_t{KVM_EXIT_IRQ_WINDOW_OPEN}, 1000u}) {
        run().exit_reason = reason;
        expect_failure_stop(VmExitReason::kUnknownExit,
                            "vcpu 1: unhandled KVM exit reason " + std::to_string(reason));
    }
}

TEST_F(ExitPolicyTest, ARunAreaSmallerThanAKvmRunIsRefused) {
    run().exit_reason = KVM_EXIT_HLT;
    EXPECT_THROW(handle(sizeof(kvm_run) - 1), rkt::Error);
}

}  // namespace
