// stage1 `run` (nspawn): checks every app's plan, creates the pod's cgroups, forks the pod init
// into new PID, UTS, IPC (and network) namespaces, writes `pid`, and supervises the pod from
// outside it (supervisor.h): this process lives as long as the pod and keeps the pod lock
// (RKT_LOCK_FD) open; nothing in the pod holds the lock or any other descriptor of the host.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/log.h"
#include "common/main_wrapper.h"
#include "common/process.h"
#include "common/strings.h"
#include "stage1-nspawn/app_plan.h"
#include "stage1-nspawn/cgroups.h"
#include "stage1-nspawn/etc_files.h"
#include "stage1-nspawn/network.h"
#include "stage1-nspawn/pod.h"
#include "stage1-nspawn/pod_init.h"
#include "stage1-nspawn/supervisor.h"
#include "stage1-nspawn/user_namespace.h"

namespace {

using namespace rkt;
using namespace rkt::nspawn;

struct RunFlags {
    bool debug = false;
    std::optional<std::string> net;
    bool interactive = false;
    std::optional<std::string> hostname;
    bool disable_capabilities = false;
    bool disable_paths = false;
    bool disable_seccomp = false;
    std::optional<std::string> private_users;
    std::string uuid;
};

RunFlags parse_flags(int argc, char** argv) {
    RunFlags f;
    CLI::App app{"nspawn stage1 run"};
    std::string ignored;
    app.add_flag("--debug", f.debug);
    app.add_option("--net", f.net);
    app.add_flag("--interactive", f.interactive);
    app.add_option("--hostname", f.hostname);
    app.add_flag("--disable-capabilities-restriction", f.disable_capabilities);
    app.add_flag("--disable-paths", f.disable_paths);
    app.add_flag("--disable-seccomp", f.disable_seccomp);
    app.add_option("--private-users", f.private_users);
    // Accepted for rkt's ABI; they change nothing here.
    app.add_option("--engine,--local-config,--mds-token,--dns-conf-mode,--ipc", ignored);
    app.add_option("uuid", f.uuid)->required();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        throw Error(std::string("bad arguments: ") + e.what());
    }
    return f;
}

int lock_fd_from_env() {
    const char* text = std::getenv("RKT_LOCK_FD");
    if (!text || !strings::is_decimal(text) || std::strlen(text) > 6)
        throw Error("RKT_LOCK_FD is not set to the pod lock's descriptor (rkt sets it)");
    int fd = std::atoi(text);
    if (::fcntl(fd, F_GETFD) < 0) throw Error("RKT_LOCK_FD=" + std::string(text) + " is not open");
    return fd;
}

char read_byte(int fd) {
    char c = 0;
    for (;;) {
        ssize_t n = io::read_some(fd, &c, 1);
        return n == 1 ? c : 0;
    }
}

int wait_for(pid_t pid) {
    int status = 0;
    if (io::retry_eintr([&] { return ::waitpid(pid, &status, 0); }) < 0)
        throw system_error("cannot wait for the pod");
    return exit_code_from_wait_status(status);
}

// With --private-users: what the pod needs from the pod directory must be its own, shifted
// copy (stage0 copies with --no-overlay and leaves private-users-prepared once it shifted).
std::optional<IdShift> pod_id_shift(const Pod& pod) {
    const std::string& range = pod.options().private_users;
    if (range.empty()) return std::nullopt;
    IdShift ids = with_context("--private-users", [&] { return IdShift::parse(range); });
    for (const auto& app : pod.manifest().apps)
        if (!pod.app_tree_is_copy(app.name))
            throw Error("--private-users needs the pod's own copy of each app's tree, and app \"" +
                        app.name + "\" has none (run the pod with --no-overlay)");
    if (::access((pod.dir() / "private-users-prepared").c_str(), F_OK) != 0)
        throw Error(
            "--private-users: the pod's trees were not shifted for a user namespace "
            "(private-users-prepared is missing)");
    if (const char* why = user_namespaces_unavailable())
        throw Error(std::string("--private-users: ") + why);
    return ids;
}

// What the pod init keeps once the apps are set up: it signals them, nothing more.
isolation::PreparedIsolation pod_init_isolation() {
    isolation::Policy policy;
    policy.capabilities = isolation::CapabilitySet::from_names({"CAP_KILL"});
    policy.seccomp.reset();
    policy.mask_paths = false;
    policy.no_new_privileges = true;
    return isolation::PreparedIsolation::prepare(policy, isolation::Identity{});
}

bool names_pids_limit(const RuntimeApp& app) {
    for (const auto& isolator : app.app.isolators)
        if (isolator.name == isolation::kPidsIsolator) return true;
    return false;
}

// Files this stage1 generated in the pod directory belong to the pod's root.
void chown_to_pod_root(const stdfs::path& path, const IdShift& ids) {
    if (::lchown(path.c_str(), ids.shift, ids.shift) != 0)
        throw system_error("cannot chown " + path.string());
}

int run(int argc, char** argv) {
    RunFlags flags = parse_flags(argc, argv);
    Pod pod = Pod::open_current(flags.uuid);
    RunOptions& o = pod.options();
    if (flags.debug) o.debug = true;
    if (flags.net) o.net = strings::split(*flags.net, ',');
    if (flags.interactive) o.interactive = true;
    if (flags.hostname) o.hostname = *flags.hostname;
    if (flags.disable_capabilities) o.insecure_options.emplace_back("capabilities");
    if (flags.disable_paths) o.insecure_options.emplace_back("paths");
    if (flags.disable_seccomp) o.insecure_options.emplace_back("seccomp");
    if (flags.private_users) o.private_users = *flags.private_users;
    log::set_debug(o.debug);
    // Kept open by this process alone: the pod init closes it (a directory of the host).
    int lock_fd = lock_fd_from_env();

    std::string hostname = o.hostname.empty() ? default_hostname(pod.uuid()) : o.hostname;
    if (!is_valid_hostname(hostname)) throw Error("bad hostname \"" + hostname + "\"");
    network::Plan net = network::plan(o.net);
    if (o.interactive && pod.manifest().apps.size() != 1)
        throw Error("interactive mode needs exactly one app");

    // Everything that can be wrong is found here, before any process or cgroup exists.
    std::optional<IdShift> ids = pod_id_shift(pod);
    EtcFiles etc = prepare_etc_files(pod, hostname, net.host);
    prepare_shared_volumes(pod, ids);
    if (ids) {
        // Generated files are the pod's own; the host's (--hosts-entry=host, --dns=host) are
        // not shifted, as volumes are not.
        for (const EtcFile* f : {&etc.hostname, &etc.hosts_fallback})
            chown_to_pod_root(f->source, *ids);
        for (const auto& f : {etc.hosts, etc.resolv_conf})
            if (f && f->source.parent_path() == pod.etc_dir()) chown_to_pod_root(f->source, *ids);
    }
    isolation::InsecureOptions insecure = insecure_options(o);
    PodInitConfig config;
    config.pod = &pod;
    config.hostname = hostname;
    config.private_network = !net.host;
    config.interactive = o.interactive;
    config.terminal = o.interactive && ::isatty(STDIN_FILENO);
    config.user_namespace = ids.has_value();
    config.self = pod_init_isolation();
    std::vector<std::string> names;
    std::vector<CgroupLimits> limits;
    std::vector<SupervisedApp> supervised;
    for (const auto& app : pod.manifest().apps) {
        AppPlan plan = plan_app(pod, app, etc, insecure, o.interactive);
        isolation::PreparedIsolation prepared = with_context("app \"" + app.name + "\"", [&] {
            return isolation::PreparedIsolation::prepare(plan.policy, plan.identity);
        });
        names.push_back(app.name);
        limits.push_back({plan.limits.memory_bytes, plan.limits.cpu_millis, plan.limits.cpu_shares,
                          plan.limits.pids_max, names_pids_limit(app)});
        AppRootSources sources =
            with_context("app \"" + app.name + "\"", [&] { return AppRootSources::open(plan); });
        supervised.push_back({app.name, plan.limits.memory_bytes, {}, {}, {}, {}, {}});
        config.apps.push_back({std::move(plan), std::move(prepared), {}, std::move(sources)});
    }
    for (const char* dir : {"logs", "status"}) fs::make_dirs(pod.dir() / dir);
    // The apps' streams: `run` keeps its ends, the pod init hands the others to the apps.
    for (size_t i = 0; i < config.apps.size(); ++i) {
        AppLaunch& launch = config.apps[i];
        SupervisedApp& sup = supervised[i];
        if (config.terminal) {
            int pair[2] = {-1, -1};
            if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
                throw system_error("cannot create a socket pair");
            sup.console = UniqueFd(pair[0]);
            launch.console = UniqueFd(pair[1]);
            continue;
        }
        std::tie(sup.out, launch.out) = io::make_pipe().ends();
        std::tie(sup.err, launch.err) = io::make_pipe().ends();
        if (o.interactive) std::tie(launch.in, sup.in) = io::make_pipe().ends();
        if (!o.interactive) sup.log = CappedLog::open(pod.log_file(launch.plan.name));
    }

    // The pod's sums of limits (run-options.json, for sizing VMs) are not applied: the apps'
    // own limits bound them, and a limit over the whole pod would cover this stage1's own
    // processes too, which an app at its limit would then get OOM-killed.
    PodCgroups cgroups =
        PodCgroups::create(PodCgroups::plan_for_this_process(pod.uuid()), names, limits, {});
    cgroups.save(pod.cgroups_file());
    cgroups.restrict_devices(names);
    for (auto& launch : config.apps)
        launch.cgroup_fds = open_cgroup_join_files(cgroups.app_join_files(launch.plan.name));
    std::vector<std::string> init_files;
    for (const auto& f : cgroups.init_join_files()) init_files.push_back(f.string());
    if (!join_cgroups(init_files)) throw system_error("cannot join the pod's cgroup");

    auto [go_r, go_w] = io::make_pipe();
    auto [report_r, report_w] = io::make_pipe();
    auto [diag_r, diag_w] = io::make_pipe();
    auto [stdin_r, stdin_w] = io::make_pipe();  // the pod init's stdin: end of file at once
    stdin_w.reset();
    config.go_fd = go_r.get();
    config.report_fd = report_w.get();
    // A reader of our stdout that went away stops nothing: the logs go on (the pod init and the
    // apps set SIGPIPE as they need it).
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t signals = supervisor_signals();
    if (::sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) throw system_error("sigprocmask");

    // The pod init is the first process of a new PID namespace; this process stays outside it
    // (and forks any later helper, e.g. CNI plugins, in the host's).
    UniqueFd host_pid_ns = fs::open_file("/proc/self/ns/pid", O_RDONLY);
    pid_t pid;
    if (ids) {
        pid = fork_into_user_namespace(*ids);
    } else {
        if (::unshare(CLONE_NEWPID) != 0) throw system_error("cannot create a PID namespace");
        pid = ::fork();
    }
    if (pid < 0) throw system_error("cannot fork the pod init");
    if (pid == 0) {
        // After the pod init's change of credentials, which clears it: the pod never outlives
        // `run`.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        // Nothing of `run` stays with the pod: not the lock (a directory of the host), not its
        // standard streams (maybe the admin's terminal), not its ends of the pipes.
        ::close(lock_fd);
        host_pid_ns.reset();
        go_w.reset();
        report_r.reset();
        for (auto& sup : supervised) sup = SupervisedApp{};
        if (::dup2(stdin_r.get(), STDIN_FILENO) < 0 || ::dup2(diag_w.get(), STDOUT_FILENO) < 0 ||
            ::dup2(diag_w.get(), STDERR_FILENO) < 0)
            ::_exit(kErrorExitCode);
        stdin_r.reset();
        diag_r.reset();
        diag_w.reset();
        pod_init_main(config);
    }
    if (!ids && ::setns(host_pid_ns.get(), CLONE_NEWPID) != 0)
        throw system_error("cannot return to the host's PID namespace");
    go_r.reset();
    report_w.reset();
    diag_w.reset();
    stdin_r.reset();
    for (auto& launch : config.apps) launch.release();  // the pod init has them now

    network::PodNetworks networks;  // given back when `run` returns
    try {
        if (read_byte(report_r.get()) == kReportNamespaces) {
            network::setup(pod, net, pid, networks);
            if (::write(go_w.get(), "G", 1) != 1) throw system_error("cannot start the pod");
            if (read_byte(report_r.get()) == kReportRunning) {
                fs::write_file_atomic(pod.pid_file(), std::to_string(pid) + "\n", 0644,
                                      fs::Durability::kAtomicOnly);
                log::debug("pod started, init pid " + std::to_string(pid));
            }
        }
    } catch (...) {
        ::kill(pid, SIGKILL);
        wait_for(pid);
        throw;
    }
    // Whatever the start-up did, the pod init's words and end come through the supervisor.
    SupervisorConfig sup;
    sup.pod = &pod;
    sup.cgroups = &cgroups;
    sup.apps = std::move(supervised);
    sup.init = pid;
    sup.report = std::move(report_r);
    sup.diagnostics = std::move(diag_r);
    sup.interactive = o.interactive;
    return run_supervisor(sup);
}

}  // namespace

int main(int argc, char** argv) {
    return rkt::run_main("stage1", [&] { return run(argc, argv); });
}
