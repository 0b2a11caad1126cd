// guest-init: PID 1 of a kvm pod's VM. It prepares the guest, tells the host it is ready,
// receives the pod spec, runs the apps (supervisor.h) and ends the VM when they are done.
// It must never exit: the kernel panics when PID 1 does.
#include <fcntl.h>
#include <signal.h>
#include <sys/reboot.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>

#include "common/error.h"
#include "common/fs.h"
#include "common/guest_protocol.h"
#include "guest-init/app_cgroup.h"
#include "guest-init/app_rootfs.h"
#include "guest-init/early_boot.h"
#include "guest-init/host_channel.h"
#include "guest-init/net_config.h"
#include "guest-init/power.h"
#include "guest-init/protocol_port.h"
#include "guest-init/supervisor.h"

namespace rkt::guest_init {
namespace {

constexpr auto kPortTimeout = std::chrono::seconds(10);
constexpr auto kLastMessageTimeout = std::chrono::seconds(5);

uint64_t monotonic_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

std::string kernel_release() {
    utsname u{};
    return ::uname(&u) == 0 ? u.release : "";
}

// Runs the pod; returns what PodExited reports. Errors of the pod as a whole (not of one app)
// are thrown, reported by the caller as Error + PodExited 254.
int run_pod(HostChannel& host) {
    std::optional<guest::PodSpec> spec = host.wait_for_pod_spec();
    if (!spec) {
        console("the host stopped the pod before sending its spec");
        return 0;
    }
    host.set_debug(spec->debug);
    check_sys(::sethostname(spec->hostname.data(), spec->hostname.size()),
              "cannot set the hostname");
    // Before any app: an app's first connection must find its addresses and routes in place.
    with_context("cannot configure the pod's network",
                 [&] { configure_interfaces(spec->interfaces); });
    for (const auto& ifc : spec->interfaces)
        host.debug("network: " + ifc.name + " (" + ifc.mac + ") up with " +
                   std::to_string(ifc.addresses.size()) + " addresses, " +
                   std::to_string(ifc.routes.size()) + " routes");
    with_context("cannot set up the guest's cgroups", [] { setup_guest_cgroups(); });
    with_context("cannot mount the pod's volumes", [&] { mount_volumes(*spec); });
    auto verified = with_context("cannot verify the apps' disks with dm-verity",
                                 [&] { return verify_app_disks(*spec, kAppDiskTimeout); });
    Supervisor supervisor(host, *spec, std::move(verified));
    return supervisor.run();
}

[[noreturn]] void guest_main(char** argv) {
    std::unique_ptr<HostChannel> host;
    try {
        leave_initramfs(argv);
        mount_kernel_filesystems();
        attach_console();
        // Ctrl-Alt-Del becomes SIGINT (a graceful stop) instead of an immediate reboot.
        ::reboot(RB_DISABLE_CAD);
        sigset_t signals = supervisor_signals();
        ::sigprocmask(SIG_BLOCK, &signals, nullptr);
        bring_up_loopback();

        auto params = rkt_kernel_parameters(fs::read_file("/proc/cmdline"));
        std::string port = find_protocol_port(params, kPortTimeout);
        host = std::make_unique<HostChannel>(open_protocol_port(port));
        host->set_debug(params.count("rkt.debug") > 0);
        // Blocks until the host side is connected.
        host->send(guest::Ready{monotonic_ns(), kernel_release()});
        // From here on, writes must not stall the loop forever on a vanished host.
        ::fcntl(host->fd(), F_SETFL, ::fcntl(host->fd(), F_GETFL) | O_NONBLOCK);

        int code = run_pod(*host);
        host->send_last(guest::PodExited{code}, kLastMessageTimeout);
        host->wait_for_hangup(kLastMessageTimeout);
    } catch (const std::exception& e) {
        console(std::string("fatal: ") + e.what());
        if (host) {
            host->send(guest::ErrorMessage{e.what()});
            host->send_last(guest::PodExited{kErrorExitCode}, kLastMessageTimeout);
            host->wait_for_hangup(kLastMessageTimeout);
        }
    }
    power_off();
}

}  // namespace
}  // namespace rkt::guest_init

int main(int /*argc*/, char** argv) {
    if (::getpid() != 1) {
        const char msg[] = "guest-init: must run as PID 1 inside a kvm pod's VM\n";
        [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
        return rkt::kErrorExitCode;
    }
    rkt::guest_init::guest_main(argv);
}
