// rkt-vmm: boots one guest with the built-in VMM, for tests and benchmarks. The kvm stage1
// links the library instead.
//   rkt-vmm --kernel K [--initrd I] [--cmdline ...] [--mem MiB] [--cpus N]
//           [--disk PATH[,ro]]... [--serial] [--hvc] [--console-socket PATH]
//           [--tap NAME[,mac=aa:bb:cc:dd:ee:ff]]...
// Prints how the VM ended; exits 0 when the guest powered off or reset itself, 1 when it ended
// any other way, 254 when the VMM could not start it.
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "common/main_wrapper.h"
#include "common/unique_fd.h"
#include "vmm/builder.h"
#include "vmm/probe.h"

namespace {

using namespace rkt;
using namespace rkt::vmm;

UniqueFd connect_unix(const std::string& path) {
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path) throw Error("socket path too long: " + path);
    addr.sun_family = AF_UNIX;
    std::copy(path.begin(), path.end(), addr.sun_path);
    UniqueFd fd(check_sys(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw system_error("cannot connect to " + path);
    return fd;
}

DiskConfig parse_disk(const std::string& spec) {
    DiskConfig d;
    d.read_only = false;
    auto comma = spec.find(',');
    d.path = spec.substr(0, comma);
    while (comma != std::string::npos) {
        auto next = spec.find(',', comma + 1);
        std::string option =
            spec.substr(comma + 1, next == std::string::npos ? next : next - comma - 1);
        if (option == "ro")
            d.read_only = true;
        else if (option == "rw")
            d.read_only = false;
        else if (option.rfind("serial=", 0) == 0)
            d.serial = option.substr(7);
        else
            throw Error("unknown disk option '" + option + "' in --disk " + spec);
        comma = next;
    }
    return d;
}

struct Tap {
    UniqueFd fd;
    std::array<uint8_t, 6> mac{};
};

// Opens (or creates) the tap NAME in this network namespace, with virtio-net headers so the guest
// gets its offloads, and brings it up. Without mac=, a random locally administered address.
Tap open_tap(const std::string& spec) {
    Tap tap;
    auto comma = spec.find(',');
    std::string name = spec.substr(0, comma);
    if (name.empty() || name.size() >= IFNAMSIZ) throw Error("bad tap name in --tap " + spec);
    if (comma != std::string::npos) {
        std::string option = spec.substr(comma + 1);
        auto mac = option.rfind("mac=", 0) == 0 ? parse_mac(option.substr(4)) : std::nullopt;
        if (!mac) throw Error("--tap takes NAME[,mac=aa:bb:cc:dd:ee:ff], not " + spec);
        tap.mac = *mac;
    } else {
        if (::getrandom(tap.mac.data(), tap.mac.size(), 0) != 6) throw system_error("getrandom");
        tap.mac[0] = static_cast<uint8_t>((tap.mac[0] & 0xfe) | 0x02);
    }
    tap.fd.reset(check_sys(::open("/dev/net/tun", O_RDWR | O_CLOEXEC), "open /dev/net/tun"));
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    std::copy(name.begin(), name.end(), ifr.ifr_name);
    if (::ioctl(tap.fd.get(), TUNSETIFF, &ifr) != 0) throw system_error("cannot open tap " + name);
    UniqueFd ctl(check_sys(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket"));
    if (::ioctl(ctl.get(), SIOCGIFFLAGS, &ifr) != 0)
        throw system_error("cannot read the flags of tap " + name);
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(ctl.get(), SIOCSIFFLAGS, &ifr) != 0)
        throw system_error("cannot bring tap " + name + " up");
    return tap;
}

std::string ms(std::chrono::microseconds us) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f ms", static_cast<double>(us.count()) / 1000.0);
    return b;
}

int run(int argc, char** argv) {
    CLI::App app{"Boots a guest with rkt's built-in VMM"};
    VmConfig config;
    std::string initrd, console_socket, seccomp = "enforce", boot = "auto";
    std::vector<std::string> disks, taps;
    bool hvc = false, probe = false, debug = false, keep_caps = false;
    int timeout_ms = 0;
    app.add_option("--kernel", config.kernel_path, "vmlinux or bzImage");
    app.add_option("--initrd", initrd, "initramfs");
    app.add_option("--cmdline", config.command_line_extra, "extra kernel arguments");
    app.add_option("--mem", config.memory_mib, "guest memory in MiB")->capture_default_str();
    app.add_option("--cpus", config.vcpus, "vCPUs")->capture_default_str();
    app.add_option("--disk", disks, "PATH[,ro][,serial=ID]: a virtio-blk disk (repeatable)");
    app.add_option("--tap", taps,
                   "NAME[,mac=aa:bb:cc:dd:ee:ff]: a virtio-net device on tap NAME, created if "
                   "missing (repeatable)");
    app.add_flag("--serial", config.serial, "8250 console (ttyS0) on stdout");
    app.add_flag("--hvc", hvc, "virtio console (hvc0) on stdout");
    app.add_option("--console-socket", console_socket,
                   "connect the guest protocol port to this unix socket");
    app.add_option("--port-name", config.protocol_port_name, "name of the protocol port")
        ->capture_default_str();
    app.add_option("--boot", boot, "entry: auto, linux64 or pvh")->capture_default_str();
    app.add_option("--seccomp", seccomp, "enforce, log or off")->capture_default_str();
    app.add_flag("--keep-capabilities", keep_caps, "do not drop capabilities in VMM threads");
    app.add_option("--timeout-ms", timeout_ms, "stop the VM after this long");
    app.add_flag("--probe", probe, "only say whether this host can run Linux guests");
    app.add_flag("--debug", debug, "log unhandled guest accesses and boot details");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    log::set_debug(debug);

    if (probe) {
        EngineProbe p = probe_builtin_engine_uncached();
        std::printf("%s: %s\n", p.usable ? "usable" : "unusable", p.reason.c_str());
        return p.usable ? 0 : 1;
    }
    if (config.kernel_path.empty()) throw Error("--kernel is required");
    if (!initrd.empty()) config.initrd_path = initrd;
    for (const auto& d : disks) config.disks.push_back(parse_disk(d));
    if (hvc) config.console_output_fd = 1;
    if (timeout_ms > 0) config.timeout = std::chrono::milliseconds(timeout_ms);
    if (seccomp == "enforce")
        config.sandbox.seccomp = SeccompMode::kEnforce;
    else if (seccomp == "log")
        config.sandbox.seccomp = SeccompMode::kLog;
    else if (seccomp == "off")
        config.sandbox.seccomp = SeccompMode::kOff;
    else
        throw Error("--seccomp takes enforce, log or off");
    config.sandbox.drop_capabilities = !keep_caps;
    if (boot == "auto")
        config.boot_protocol = x86::BootProtocol::kAuto;
    else if (boot == "linux64")
        config.boot_protocol = x86::BootProtocol::kLinux64;
    else if (boot == "pvh")
        config.boot_protocol = x86::BootProtocol::kPvh;
    else
        throw Error("--boot takes auto, linux64 or pvh");
    std::vector<Tap> tap_devices;  // open until the VM ends
    for (const auto& t : taps) {
        tap_devices.push_back(open_tap(t));
        config.nics.push_back({tap_devices.back().fd.get(), tap_devices.back().mac});
        log::debug("tap " + t + ": guest MAC " + format_mac(tap_devices.back().mac));
    }
    UniqueFd console;
    if (!console_socket.empty()) {
        console = connect_unix(console_socket);
        config.protocol_port_fd = console.get();
    }

    // SIGINT/SIGTERM stop the VM cleanly; they are blocked here so the VMM threads inherit
    // the mask and only the waiter below takes them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGUSR1);
    ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    BuiltVm vm = build_vm(config);
    log::debug("kernel command line: " + vm.command_line);
    for (uint32_t msr : vm.refused_msrs) {
        char b[64];
        std::snprintf(b, sizeof b, "KVM refused boot MSR 0x%x (left at its default)", msr);
        log::debug(b);
    }
    Machine& machine = *vm.machine;
    std::atomic<bool> done{false};
    std::thread waiter([&] {
        int sig = 0;
        while (sigwait(&stop_signals, &sig) == 0) {
            if (done.load()) return;
            if (sig != SIGUSR1)
                machine.request_stop(
                    {VmExitReason::kHostStop, "stopped by signal " + std::to_string(sig)});
        }
    });
    VmResult result = machine.run();
    done.store(true);
    ::pthread_kill(waiter.native_handle(), SIGUSR1);
    waiter.join();

    std::string line = std::string("vm exit: ") + to_string(result.exit.reason) + ": " +
                       result.exit.message + "; setup " + ms(result.timings.setup);
    if (result.timings.boot) line += ", boot " + ms(*result.timings.boot);
    line += ", total " + ms(result.timings.total);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    if (!result.exit.clean() && log::debug_enabled())
        std::fputs(machine.describe_vcpus().c_str(), stderr);
    return result.exit.clean() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    return rkt::run_main("rkt-vmm", [&] { return run(argc, argv); });
}
