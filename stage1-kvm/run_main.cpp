// stage1 `run` (kvm): plans the pod's VM (pod_plan.h), picks the engine (built-in VMM or QEMU),
// boots the VM and runs the pod's conversation with guest-init (pod_session.h) until the VM
// ends. This process lives as long as the pod: it keeps the pod lock (RKT_LOCK_FD), it is the
// `pid` of the pod, and the parent of the VMM's jailed process (QEMU, or the built-in VMM's).
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/main_wrapper.h"
#include "common/pod_files.h"
#include "common/run_options.h"
#include "common/stage1_args.h"
#include "common/strings.h"
#include "network/netns.h"
#include "network/stage1_networking.h"
#include "stage1-kvm/control_socket.h"
#include "stage1-kvm/engine_choice.h"
#include "stage1-kvm/guest_nics.h"
#include "stage1-kvm/initramfs.h"
#include "stage1-kvm/pod_plan.h"
#include "stage1-kvm/pod_session.h"

namespace {

using namespace rkt;
using namespace rkt::kvm;

constexpr size_t kMaxExtraKernelArguments = 1024;

// Seconds from the environment (tests make the watchdog short); `fallback` when unset.
std::chrono::milliseconds ready_timeout() {
    const char* text = std::getenv("RKT_KVM_READY_TIMEOUT");
    if (!text || !*text) return std::chrono::seconds(60);
    if (!strings::is_decimal(text) || std::strlen(text) > 5 || std::atoi(text) < 1)
        throw Error("RKT_KVM_READY_TIMEOUT must be a number of seconds (1..99999)");
    return std::chrono::seconds(std::atoi(text));
}

// The size at which the console, the VMM's log and each app's log rotate: 8 MiB, or less when
// RKT_KVM_LOG_LIMIT says so (tests; it never raises the bound).
uint64_t log_limit() {
    const char* text = std::getenv("RKT_KVM_LOG_LIMIT");
    if (!text || !*text) return kDefaultLogLimit;
    if (!strings::is_decimal(text) || std::strlen(text) > 8 || std::stoull(text) < 4096 ||
        std::stoull(text) > kDefaultLogLimit)
        throw Error("RKT_KVM_LOG_LIMIT must be a number of bytes from 4096 to " +
                    std::to_string(kDefaultLogLimit));
    return std::stoull(text);
}

// The pod's own kernel arguments: quiet (or guest-init's debug messages), and whatever
// RKT_HYPERVISOR_EXTRA_KERNEL_PARAMS adds (rkt's name for it).
std::string guest_arguments(bool debug) {
    std::string args = debug ? "rkt.debug" : "quiet";
    if (const char* extra = std::getenv("RKT_HYPERVISOR_EXTRA_KERNEL_PARAMS"); extra && *extra) {
        std::string e = extra;
        if (e.size() > kMaxExtraKernelArguments || e.find('\n') != std::string::npos)
            throw Error(
                "RKT_HYPERVISOR_EXTRA_KERNEL_PARAMS must be one line of at most 1024 "
                "characters");
        args += " " + e;
    }
    return args;
}

// Removes the control socket when the run ends, whichever way.
struct ControlSocketFile {
    ~ControlSocketFile() { ::unlink(kControlSocketName); }
};

int run(int argc, char** argv) {
    Stage1RunArgs args = parse_stage1_run_args(argc, argv);
    if (!args.private_users.empty())
        throw Error(
            "--private-users is not supported by the kvm stage1 (the VM is the pod's isolation "
            "boundary)");
    stdfs::path pod_dir = stdfs::current_path();
    if (pod_dir.filename() != args.uuid)
        throw Error("the current directory " + pod_dir.string() + " is not the directory of pod " +
                    args.uuid + " (entrypoints run in the pod directory)");
    if (::fcntl(args.lock_fd, F_GETFD) < 0)
        throw Error("RKT_LOCK_FD=" + std::to_string(args.lock_fd) + " is not open");
    // This process holds the lock for the pod's life; QEMU and helpers must not inherit it.
    ::fcntl(args.lock_fd, F_SETFD, FD_CLOEXEC);

    PodManifest manifest = pod_files::read_manifest(pod_dir);
    RunOptions o = load_run_options(pod_dir.string());
    if (args.debug) o.debug = true;
    if (!args.net.empty()) o.net = args.net;
    if (args.interactive) o.interactive = true;
    if (!args.hostname.empty()) o.hostname = args.hostname;
    if (args.disable_capabilities) o.insecure_options.emplace_back("capabilities");
    if (args.disable_paths) o.insecure_options.emplace_back("paths");
    if (args.disable_seccomp) o.insecure_options.emplace_back("seccomp");
    if (!args.engine.empty()) o.engine = args.engine;
    log::set_debug(o.debug);

    // Everything that can be wrong with the pod is found here, before any VM exists.
    PlanInputs inputs;
    inputs.manifest = &manifest;
    inputs.options = o;
    inputs.uuid = args.uuid;
    inputs.pod_dir = pod_dir;
    inputs.host_cpus = std::max(1u, std::thread::hardware_concurrency());
    PodPlan plan = plan_pod(inputs);
    net::NetSelection networks = net::parse_net_selection(o.net);
    std::chrono::milliseconds watchdog = ready_timeout();
    uint64_t logs_limit = log_limit();

    stdfs::path stage1_dir = fs::executable_dir();
    stdfs::path data_dir = pod_dir.parent_path().parent_path().parent_path();
    stdfs::path initramfs =
        cached_initramfs(stage1_dir / "guest-init", {stage1_dir, data_dir / "cache" / "kvm"});

    // The pod's networks, in a namespace of their own that the VMM's taps share with the CNI
    // veths (guest_nics.h). The lease gives them back when this process ends; the taps close
    // (with the VMM) before it does.
    std::optional<net::NetworkLease> lease;
    net::PortReservations reserved_ports;
    std::vector<GuestNic> nics;
    if (networks.kind == net::NetSelection::Kind::kNetworks) {
        std::string netns = net::netns_path_for(args.uuid);
        lease.emplace(pod_dir, o.cni_path, netns);
        net::create_netns(netns);
        auto attached = net::attach_networks(
            net::pod_network_spec(o, networks, args.uuid, pod_dir, netns), reserved_ports);
        std::vector<std::string> interfaces;
        interfaces.reserve(attached.size());
        for (const auto& a : attached) interfaces.push_back(a.if_name);
        nics = make_guest_nics(netns, interfaces);
        for (const auto& nic : nics) plan.spec.interfaces.push_back(nic.spec);
        if (auto dns = net::dns_of_networks(attached))
            plan.spec.dns = dns_config(o, inputs.host_etc / "resolv.conf", dns->conf, dns->network);
        guest::validate_pod_spec(plan.spec);
    }

    EngineChoice choice = choose_engine(o.engine, !plan.shares.empty());
    if (!choice.notice.empty()) log::info(choice.notice);
    log::debug("running the pod with " + choice.engine->name() + ": " +
               std::to_string(plan.size.memory_mib) + " MiB, " + std::to_string(plan.size.vcpus) +
               " vCPU(s)");

    // Stop requests arrive through a signalfd; the VMM's threads (built-in engine) inherit the
    // mask, so only the session sees them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&stop_signals, sig);
    ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    UniqueFd signals(::signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals) throw system_error("signalfd");

    ControlSocketFile remove_control_socket;
    UniqueFd control = listen_control_socket();

    VmLaunch launch;
    launch.pod_dir = pod_dir;
    // Only ever a mount point inside the VMM's own mount namespace: empty on the host.
    launch.jail_dir = pod_dir / "jail";
    fs::make_dirs(launch.jail_dir, 0700);
    launch.stage1_dir = stage1_dir;
    launch.initramfs = initramfs;
    launch.guest_arguments = guest_arguments(o.debug);
    launch.size = plan.size;
    launch.disks = plan.disks;
    launch.shares = plan.shares;
    launch.console_log = pod_dir / "console.log";
    launch.engine_log = pod_dir / choice.engine->log_file_name();
    launch.log_limit = logs_limit;
    for (const auto& nic : nics) launch.nics.push_back({nic.tap.get(), nic.mac});
    UniqueFd guest = choice.engine->start(launch);

    SessionConfig config;
    config.pod_dir = pod_dir;
    config.plan = &plan;
    config.engine = choice.engine.get();
    config.console_log = launch.console_log;
    config.ready_timeout = watchdog;
    config.log_limit = logs_limit;
    PodSession session(config, std::move(guest), std::move(control), std::move(signals));
    return session.run();
}

}  // namespace

int main(int argc, char** argv) {
    return rkt::run_main("stage1", [&] { return run(argc, argv); });
}
