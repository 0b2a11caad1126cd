// The built-in VMM on this host's KVM, with the small guests of tests/kvm/guests.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "common/unique_fd.h"
#include "test_support.h"
#include "toy_vm.h"
#include "vmm/builder.h"
#include "vmm/virtio/block.h"
#include "vmm/virtio/console.h"
#include "vmm/virtio/net.h"

using namespace rkt::vmm;
using namespace rkt::vmm::test;

#define REQUIRE_KVM()                                         \
    do {                                                      \
        std::string why;                                      \
        if (!ToyVm::kvm_available(&why)) GTEST_SKIP() << why; \
    } while (0)

namespace rkt::vmm {
// Lets GoogleTest print exit reasons by name.
void PrintTo(VmExitReason reason, std::ostream* os) {  // NOLINT(readability-identifier-naming)
    *os << to_string(reason);
}
}  // namespace rkt::vmm

namespace {

using namespace std::chrono_literals;

// The two ends of a console port: the VMM's (handed to the device) and the test's.
struct SocketPair {
    SocketPair() {
        int sv[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        vmm_end.reset(sv[0]);
        host_end.reset(sv[1]);
    }
    // Wakes whatever thread still blocks on the host end (close would not).
    void hang_up() { ::shutdown(host_end.get(), SHUT_RDWR); }
    rkt::UniqueFd vmm_end, host_end;
};

void add_console_port(ToyVm& vm, int fd) {
    vm.machine().add_virtio_device(
        std::make_unique<ConsoleDevice>(std::vector<ConsolePortConfig>{{"", false, fd, -1}}));
}

// Writes to the host end without SIGPIPE when the VM has hung up already.
ssize_t send_some(int fd, const void* data, size_t size) {
    return ::send(fd, data, size, MSG_NOSIGNAL);
}

struct CommandResult {
    int status;
    std::string output;
};

// Runs a shell command line and collects what it prints; the command must bound its own run
// time (rkt-vmm: --timeout-ms).
CommandResult run_shell(const std::string& command) {
    CommandResult result{-1, ""};
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (!p) return result;
    char buf[256];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) result.output.append(buf, n);
    result.status = ::pclose(p);
    return result;
}

bool exited_with(const CommandResult& r, int code) {
    return WIFEXITED(r.status) && WEXITSTATUS(r.status) == code;
}

}  // namespace

TEST(KvmGuest, SerialOutputAndI8042Reset) {
    REQUIRE_KVM();
    Pipe out;
    ToyVm vm;
    vm.add_i8042();
    vm.add_serial(out.write_end.get());
    vm.load("serial_hello");
    VmResult r = vm.run();
    EXPECT_EQ(r.exit.reason, VmExitReason::kGuestReset) << r.exit.message;
    EXPECT_TRUE(r.exit.clean());
    EXPECT_EQ(out.drain(), "hello from the guest\n");
}

TEST(KvmGuest, RealModeGuest) {
    REQUIRE_KVM();
    ToyVm vm;
    vm.add_i8042();
    vm.load("real_mode_reset", FlatMode::kReal16, 0x1000);
    VmResult r = vm.run();
    EXPECT_EQ(r.exit.reason, VmExitReason::kGuestReset) << r.exit.message;
    EXPECT_EQ(vm.results().values(), std::vector<uint32_t>{0x1616});
}

TEST(KvmGuest, VirtioBlockReadWriteFlush) {
    REQUIRE_KVM();
    TempDir dir;
    std::vector<uint8_t> disk(size_t{8} * 512);
    for (size_t i = 0; i < disk.size(); ++i) disk[i] = static_cast<uint8_t>(i / 512 + 1);
    write_bytes(dir.path("disk.img"), disk);
    ToyVm vm;
    vm.add_i8042();
    vm.machine().add_virtio_device(
        std::make_unique<BlockDevice>(BlockDiskConfig{dir.path("disk.img").string(), false, ""}));
    vm.load("blk_io");
    VmResult r = vm.run();
    ASSERT_EQ(r.exit.reason, VmExitReason::kGuestReset) << r.exit.message;
    // status 15, read length 513, status OK, sector 2's bytes, write OK, flush OK.
    EXPECT_EQ(vm.results().values(), (std::vector<uint32_t>{15, 513, 0, 0x0303, 0, 0}));
    auto after = read_bytes(dir.path("disk.img"));
    constexpr size_t kSector = 512;
    EXPECT_EQ(after[5 * kSector], 0xa5);
    EXPECT_EQ(after[5 * kSector + 511], 0xa5);
    EXPECT_EQ(after[4 * kSector], 5);
    EXPECT_EQ(after[6 * kSector], 7);
}

TEST(KvmGuest, VirtioConsoleRoundTrip) {
    REQUIRE_KVM();
    SocketPair port;
    ToyVm vm;
    vm.add_i8042();
    add_console_port(vm, port.vmm_end.get());
    vm.load("console_echo");
    std::string seen_first, seen_second;
    std::thread host([&] {
        char buf[64];
        ssize_t n = ::read(port.host_end.get(), buf, sizeof buf);
        if (n > 0) seen_first.assign(buf, static_cast<size_t>(n));
        if (send_some(port.host_end.get(), "pong!", 5) != 5) return;
        n = ::read(port.host_end.get(), buf, sizeof buf);
        if (n > 0) seen_second.assign(buf, static_cast<size_t>(n));
    });
    VmResult r = vm.run();
    port.hang_up();  // unblocks the host thread if the guest never wrote
    host.join();
    ASSERT_EQ(r.exit.reason, VmExitReason::kGuestReset) << r.exit.message;
    EXPECT_EQ(seen_first, "ping");
    EXPECT_EQ(seen_second, "PONG!");
    EXPECT_EQ(vm.results().values(), (std::vector<uint32_t>{15, 5}));
}

// Megabytes both ways through a console port, with the host reading in odd-sized pieces and
// writing while it reads: the device's flow control (bounded buffering, EAGAIN, EPOLLOUT) and the
// sandboxed event thread under load. The guest echoes what it receives.
TEST(KvmGuest, VirtioConsoleBulkTransfer) {
    REQUIRE_KVM();
    SocketPair port;
    ToyVm vm;
    vm.add_i8042();
    add_console_port(vm, port.vmm_end.get());
    vm.load("console_bulk");
    int host_end = port.host_end.get();
    constexpr uint32_t kOut = 2u << 20, kEcho = 1u << 20;
    uint32_t received = 0, mismatches = 0, echoed = 0, echo_mismatches = 0;
    std::vector<uint8_t> echo_data(kEcho);
    for (uint32_t i = 0; i < kEcho; ++i) echo_data[i] = static_cast<uint8_t>(i * 13 + i / 4096);
    std::thread reader([&] {
        std::vector<uint8_t> buf(3000);
        while (received < kOut) {
            ssize_t n = ::read(host_end, buf.data(), buf.size());
            if (n <= 0) return;
            for (ssize_t i = 0; i < n; ++i)
                if (buf[static_cast<size_t>(i)] !=
                    static_cast<uint8_t>(((received + i) % 16384) * 7))
                    ++mismatches;
            received += static_cast<uint32_t>(n);
        }
        while (echoed < kEcho) {
            ssize_t n = ::read(host_end, buf.data(), buf.size());
            if (n <= 0) return;
            for (ssize_t i = 0; i < n; ++i)
                if (buf[static_cast<size_t>(i)] != echo_data[echoed + static_cast<size_t>(i)])
                    ++echo_mismatches;
            echoed += static_cast<uint32_t>(n);
        }
    });
    std::thread writer([&] {
        size_t done = 0;
        while (done < echo_data.size()) {
            ssize_t n = send_some(host_end, echo_data.data() + done, echo_data.size() - done);
            if (n <= 0) return;
            done += static_cast<size_t>(n);
        }
    });
    VmResult r = vm.run();
    port.hang_up();  // unblocks the host threads if the guest stopped early
    reader.join();
    writer.join();
    ASSERT_EQ(r.exit.reason, VmExitReason::kGuestReset) << r.exit.message;
    EXPECT_EQ(received, kOut);
    EXPECT_EQ(mismatches, 0u);
    EXPECT_EQ(echoed, kEcho);
    EXPECT_EQ(echo_mismatches, 0u);
    EXPECT_EQ(vm.results().values(), (std::vector<uint32_t>{15, 1, kEcho}));
}

TEST(KvmGuest, InterruptThroughIrqfd) {
    REQUIRE_KVM();
    ToyVm vm;
    vm.add_i8042();
    InterruptLine& line = vm.machine().interrupt_line(5);
    vm.add_control([&line](uint32_t) { line.trigger(); });
    vm.load("irqfd_interrupt");
    VmResult r = vm.run();
    ASSERT_EQ(r.exit.reason, VmExitReason::kGuestReset) << r.exit.message;
    EXPECT_EQ(vm.results().values(), (std::vector<uint32_t>{1, 2}));
}

TEST(KvmGuest, TwoVcpus) {
    REQUIRE_KVM();
    ToyVm vm(2);
    vm.add_i8042();
    vm.load("two_vcpus");
    VmResult r = vm.run();
    ASSERT_EQ(r.exit.reason, VmExitReason::kGuestReset) << r.exit.message;
    auto values = vm.results().values();
    std::sort(values.begin(), values.end());
    EXPECT_EQ(values, (std::vector<uint32_t>{0x100, 0x101}));
}

TEST(KvmGuest, HostileDriverIsRefusedAndTheVmmStaysUp) {
    REQUIRE_KVM();
    TempDir dir;
    write_bytes(dir.path("disk.img"), std::vector<uint8_t>(size_t{8} * 512, 0x11));
    ToyVm vm;
    vm.add_i8042();
    vm.machine().add_virtio_device(
        std::make_unique<BlockDevice>(BlockDiskConfig{dir.path("disk.img").string(), false, ""}));
    vm.load("hostile_blk");
    VmResult r = vm.run();
    ASSERT_EQ(r.exit.reason, VmExitReason::kGuestReset) << r.exit.message;
    // status; four refused chains (length 0); a good read (513, OK); NEEDS_RESET seen.
    EXPECT_EQ(vm.results().values(), (std::vector<uint32_t>{15, 0, 0, 0, 0, 513, 0, 0x40}));
    EXPECT_EQ(read_bytes(dir.path("disk.img")), std::vector<uint8_t>(size_t{8} * 512, 0x11));
}

TEST(KvmGuest, TripleFaultEndsTheVmWithAMessage) {
    REQUIRE_KVM();
    ToyVm vm;
    vm.add_i8042();
    vm.load("triple_fault");
    VmResult r = vm.run();
    EXPECT_FALSE(r.exit.clean());
    EXPECT_EQ(r.exit.reason, VmExitReason::kTripleFault) << r.exit.message;
    EXPECT_NE(r.exit.message.find("triple fault"), std::string::npos);
    EXPECT_EQ(vm.results().values(), std::vector<uint32_t>{1});
}

TEST(KvmGuest, UnknownPortsAndMmioAreIgnored) {
    REQUIRE_KVM();
    ToyVm vm;
    vm.add_i8042();
    vm.load("unknown_port");
    VmResult r = vm.run();
    ASSERT_EQ(r.exit.reason, VmExitReason::kGuestReset) << r.exit.message;
    EXPECT_EQ(vm.results().values(), (std::vector<uint32_t>{0xff, 0xffffffff, 0xd0e}));
}

TEST(KvmGuest, HostStopsASpinningGuest) {
    REQUIRE_KVM();
    ToyVm vm;
    vm.load("spin");
    std::promise<void> spinning;
    vm.results().on_value = [&, once = std::make_shared<std::once_flag>()](uint32_t) {
        std::call_once(*once, [&] { spinning.set_value(); });
    };
    bool saw_guest_run = false;
    std::thread stopper([&] {
        // Stops the VM once the guest runs, or after 10 s (before ToyVm's own 20 s timeout).
        saw_guest_run = spinning.get_future().wait_for(10s) == std::future_status::ready;
        vm.machine().request_stop({VmExitReason::kHostStop, "test stop"});
    });
    VmResult r = vm.run();
    stopper.join();
    EXPECT_TRUE(saw_guest_run);
    EXPECT_EQ(r.exit.reason, VmExitReason::kHostStop);
    EXPECT_TRUE(r.exit.clean());
}

// The buses are sealed when run() starts: no device, range or interrupt line can be added while
// the vCPU threads dispatch, nor after.
TEST(KvmGuest, NothingIsAddedOnceTheVmRuns) {
    REQUIRE_KVM();
    TempDir dir;
    write_bytes(dir.path("disk.img"), std::vector<uint8_t>(4096, 0));
    ToyVm vm;
    vm.load("spin");
    std::promise<void> spinning;
    vm.results().on_value = [&, once = std::make_shared<std::once_flag>()](uint32_t) {
        std::call_once(*once, [&] { spinning.set_value(); });
    };
    std::string while_running;
    std::thread adder([&] {
        if (spinning.get_future().wait_for(10s) == std::future_status::ready) {
            try {
                vm.machine().pio_bus().insert(0x600, 1, std::make_shared<ResultPort>());
                while_running = "a port range was added";
            } catch (const rkt::Error& e) {
                while_running = e.what();
            }
        }
        vm.machine().request_stop({VmExitReason::kHostStop, "test stop"});
    });
    VmResult r = vm.run();
    adder.join();
    EXPECT_EQ(r.exit.reason, VmExitReason::kHostStop);
    EXPECT_NE(while_running.find("devices are added before the VM runs"), std::string::npos)
        << while_running;
    EXPECT_THROW(vm.machine().mmio_bus().insert(0xd0000000, 0x1000, std::make_shared<ResultPort>()),
                 rkt::Error);
    EXPECT_THROW(vm.machine().add_virtio_device(std::make_unique<BlockDevice>(
                     BlockDiskConfig{dir.path("disk.img").string(), false, ""})),
                 rkt::Error);
    EXPECT_THROW(vm.machine().interrupt_line(9), rkt::Error);
    EXPECT_THROW(vm.run(), rkt::Error);
}

// The builder's whole Linux path (zero page, command line, e820, page tables, MP table, CPUID,
// MSRs, devices, sandbox) with a small ELF "kernel" that checks what it was given.
TEST(KvmBuilder, BootsAnElfKernelThroughTheLinuxEntry) {
    REQUIRE_KVM();
    TempDir dir;
    write_bytes(dir.path("disk.img"), std::vector<uint8_t>(4096, 0));
    Pipe serial;
    VmConfig config;
    config.kernel_path = std::string(KVM_GUEST_DIR) + "/boot_params.elf";
    config.memory_mib = 64;
    config.vcpus = 2;
    config.serial = true;
    config.serial_output_fd = serial.write_end.get();
    config.disks.push_back({dir.path("disk.img").string(), true, "test-disk"});
    config.command_line_extra = "rkt.test=1";
    config.timeout = std::chrono::milliseconds(20000);
    BuiltVm vm = build_vm(config);
    EXPECT_EQ(vm.kernel_format, x86::KernelFormat::kElf);
    EXPECT_EQ(vm.entry_mode, x86::EntryMode::kLinux64);
    auto results = std::make_shared<ResultPort>();
    vm.machine->pio_bus().insert(0x500, 4, results);
    VmResult r = vm.machine->run();
    ASSERT_EQ(r.exit.reason, VmExitReason::kGuestReset) << r.exit.message;
    EXPECT_EQ(results->values(), (std::vector<uint32_t>{0xaa55, 3}));
    std::string printed = serial.drain();
    EXPECT_EQ(printed, vm.command_line + "\n");
    EXPECT_NE(printed.find("virtio_mmio.device=4K@0xc0001000:5"), std::string::npos);
    EXPECT_NE(printed.find("console=ttyS0"), std::string::npos);
    EXPECT_NE(printed.find("rkt.test=1"), std::string::npos);
    EXPECT_GT(r.timings.total.count(), 0);
}

TEST(KvmBuilder, RktVmmExecutable) {
    REQUIRE_KVM();
    const std::string vmm = std::string(RKT_VMM_BINARY) + " --timeout-ms 20000 --kernel ";
    CommandResult r = run_shell(vmm + KVM_GUEST_DIR + "/serial_hello.elf --serial --mem 32");
    EXPECT_TRUE(exited_with(r, 0)) << r.output;
    EXPECT_NE(r.output.find("hello from the guest"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("vm exit: guest-reset"), std::string::npos) << r.output;

    // A guest that triple-faults is not a clean end: exit code 1.
    r = run_shell(vmm + KVM_GUEST_DIR + "/triple_fault.elf --mem 32");
    EXPECT_TRUE(exited_with(r, 1)) << r.output;
    EXPECT_NE(r.output.find("vm exit: triple-fault"), std::string::npos) << r.output;

    // A missing kernel is the VMM's own error: one line, exit code 254.
    r = run_shell(vmm + "/nonexistent/vmlinux");
    EXPECT_TRUE(exited_with(r, 254)) << r.output;
    EXPECT_NE(r.output.find("/nonexistent/vmlinux"), std::string::npos) << r.output;
}

TEST(KvmBuilder, BootsThroughThePvhEntry) {
    REQUIRE_KVM();
    VmConfig config;
    config.kernel_path = std::string(KVM_GUEST_DIR) + "/pvh_boot.elf";
    config.memory_mib = 64;
    config.boot_protocol = x86::BootProtocol::kPvh;
    config.timeout = std::chrono::milliseconds(20000);
    BuiltVm vm = build_vm(config);
    EXPECT_EQ(vm.entry_mode, x86::EntryMode::kPvh);
    auto results = std::make_shared<ResultPort>();
    vm.machine->pio_bus().insert(0x500, 4, results);
    VmResult r = vm.machine->run();
    ASSERT_EQ(r.exit.reason, VmExitReason::kGuestReset) << r.exit.message;
    uint32_t first_four;
    std::memcpy(&first_four, vm.command_line.data(), 4);
    EXPECT_EQ(results->values(), (std::vector<uint32_t>{0x336ec578, 3, first_four}));
}

namespace {

// Runs in a child in its own network namespace: a tap for the VM, a packet socket on the tap's
// interface for the test. Returns "" on success, else what went wrong.
std::string run_net_echo() {
    if (::unshare(CLONE_NEWNET) != 0) return "unshare(CLONE_NEWNET) failed";
    rkt::UniqueFd tap(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    if (!tap) return "cannot open /dev/net/tun";
    ifreq ifr{};
    // As the kvm stage1's taps are: with virtio-net headers (this guest takes no offloads).
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    std::strncpy(ifr.ifr_name, "rkttap0", IFNAMSIZ - 1);
    if (::ioctl(tap.get(), TUNSETIFF, &ifr) != 0) return "TUNSETIFF failed";
    rkt::UniqueFd ctl(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (::ioctl(ctl.get(), SIOCGIFFLAGS, &ifr) != 0) return "SIOCGIFFLAGS failed";
    ifr.ifr_flags |= IFF_UP;
    if (::ioctl(ctl.get(), SIOCSIFFLAGS, &ifr) != 0) return "cannot bring the tap up";
    int index = static_cast<int>(::if_nametoindex("rkttap0"));
    rkt::UniqueFd packets(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(0x88b5)));
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(0x88b5);
    addr.sll_ifindex = index;
    if (::bind(packets.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return "cannot bind the packet socket";
    // The host thread's deadline: a guest that never sends must not leave it blocked.
    timeval receive_deadline{20, 0};
    if (::setsockopt(packets.get(), SOL_SOCKET, SO_RCVTIMEO, &receive_deadline,
                     sizeof receive_deadline) != 0)
        return "cannot set a receive deadline";

    ToyVm vm;
    vm.add_i8042();
    vm.machine().add_virtio_device(
        std::make_unique<NetDevice>(tap.get(), std::array<uint8_t, 6>{0x02, 0x52, 0, 0, 0, 1}));
    vm.load("net_echo");
    std::string seen, host_error;
    std::thread host([&] {
        uint8_t frame[2048];
        ssize_t n = ::recv(packets.get(), frame, sizeof frame, 0);
        if (n < 14 + 12) {
            host_error = n < 0 ? "no frame from the guest within 20 s" : "a short frame";
            return;
        }
        seen.assign(reinterpret_cast<char*>(frame) + 14, 12);
        uint8_t reply[60] = {};
        std::memcpy(reply, frame + 6, 6);  // back to the guest's MAC
        std::memcpy(reply + 6, frame, 6);
        reply[12] = 0x88;
        reply[13] = 0xb5;
        const uint8_t pong_bytes[4] = {'P', 'O', 'N', 'G'};
        std::memcpy(reply + 14, pong_bytes, sizeof pong_bytes);
        if (::sendto(packets.get(), reply, sizeof reply, 0, reinterpret_cast<sockaddr*>(&addr),
                     sizeof addr) != sizeof reply)
            host_error = "cannot send the reply";
    });
    VmResult r = vm.run();
    host.join();
    if (!host_error.empty()) return host_error;
    if (r.exit.reason != VmExitReason::kGuestReset) return "VM ended with " + r.exit.message;
    if (seen != "rkt-net-test") return "the host saw '" + seen + "'";
    auto values = vm.results().values();
    uint32_t pong = 'P' | 'O' << 8 | 'N' << 16 | 'G' << 24;
    if (values != std::vector<uint32_t>{15, 12 + 60, pong}) {
        std::string got;
        for (auto v : values) got += std::to_string(v) + " ";
        return "guest reported " + got;
    }
    return "";
}

}  // namespace

TEST(KvmGuest, VirtioNetOverATap) {
    REQUIRE_KVM();
    if (::access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/net/tun";
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace and a tap";
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(pipe_fds[0]);
        std::string error;
        try {
            error = run_net_echo();
        } catch (const std::exception& e) {
            error = e.what();
        }
        if (!error.empty()) (void)!::write(pipe_fds[1], error.data(), error.size());
        ::_exit(error.empty() ? 0 : 1);
    }
    ::close(pipe_fds[1]);
    rkt::UniqueFd report(pipe_fds[0]);
    // The child ends within ToyVm's 20 s; give up on it well before ctest's 60 s.
    auto deadline = std::chrono::steady_clock::now() + 45s;
    std::string error;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{report.get(), POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
            ::kill(pid, SIGKILL);
            error += "the test child did not end within 45 s";
            break;
        }
        char buf[512];
        ssize_t n = ::read(report.get(), buf, sizeof buf);
        if (n <= 0) break;
        error.append(buf, static_cast<size_t>(n));
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << error;
}
