// stage1 `enter` (nspawn): runs a command in an app's context with the app's own isolation —
// its namespaces (the pod's PID, UTS, IPC and network namespaces, the app's mount namespace),
// its cgroups, user and groups, capabilities, seccomp filter and no_new_privs, and the pod's user
// namespace when it has one (--private-users). (rkt's enter gave full capabilities and no
// filter: CVE-2019-10144/10145/10147.) The command's standard streams are a terminal of the pod or
// pipes, never the caller's (enter_streams.h).
#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/id_shift.h"
#include "common/isolation.h"
#include "common/log.h"
#include "common/main_wrapper.h"
#include "common/process.h"
#include "stage1-nspawn/app_plan.h"
#include "stage1-nspawn/app_root.h"
#include "stage1-nspawn/cgroups.h"
#include "stage1-nspawn/enter_streams.h"
#include "stage1-nspawn/pod.h"

namespace {

using namespace rkt;
using namespace rkt::nspawn;

struct EnterFlags {
    std::string app;
    std::string uuid;
    std::vector<std::string> command;
};

EnterFlags parse_flags(int argc, char** argv) {
    EnterFlags f;
    std::string ignored;
    CLI::App app{"nspawn stage1 enter"};
    app.add_option("--app,--appname", f.app);
    app.add_option("--pid", ignored);  // rkt's ABI; the pod's own `pid` file is used
    app.add_option("uuid", f.uuid)->required();
    app.add_option("command", f.command);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        throw Error(std::string("bad arguments: ") + e.what());
    }
    if (f.command.empty()) f.command = {"/bin/sh"};
    return f;
}

ino_t namespace_inode(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw system_error("cannot read " + path);
    return st.st_ino;
}

// A process of the app: in its cgroup, inside the pod's PID namespace (an `enter` on its way in
// is in the cgroup but not yet there), and in a mount namespace other than the pod init's.
pid_t find_app_process(const PodCgroups& cgroups, const std::string& app, pid_t init) {
    std::string init_ns = "/proc/" + std::to_string(init) + "/ns/";
    ino_t pod_pid_ns = namespace_inode(init_ns + "pid");
    ino_t init_mnt_ns = namespace_inode(init_ns + "mnt");
    for (pid_t pid : cgroups.app_pids(app)) {
        std::string ns = "/proc/" + std::to_string(pid) + "/ns/";
        struct stat pid_ns {
        }, mnt_ns{};
        if (::stat((ns + "pid").c_str(), &pid_ns) == 0 && pid_ns.st_ino == pod_pid_ns &&
            ::stat((ns + "mnt").c_str(), &mnt_ns) == 0 && mnt_ns.st_ino != init_mnt_ns)
            return pid;
    }
    throw Error("app \"" + app + "\" is not running");
}

void join_namespace(const std::string& path, int type) {
    UniqueFd fd = fs::open_file(path, O_RDONLY);
    if (::setns(fd.get(), type) != 0) throw system_error("cannot join " + path);
}

[[noreturn]] void exec_child(const std::vector<std::string>& command, const ExecPlan& plan,
                             const isolation::PreparedIsolation& isolation, int user_ns) {
    isolation::Failure f;
    std::string program;
    try {
        // Last, after every other namespace (joined with the host's privileges): the pod's
        // user namespace, whose ids the app's identity is in.
        if (user_ns >= 0 && ::setns(user_ns, CLONE_NEWUSER) != 0)
            throw system_error("cannot join the pod's user namespace");
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig : {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, SIG_DFL);
        if (::syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
            throw system_error("cannot mark descriptors close-on-exec");
        program = find_program(command[0], plan.env);
        std::vector<char*> argv, envp;
        for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        for (const auto& e : plan.env) envp.push_back(const_cast<char*>(e.c_str()));
        envp.push_back(nullptr);
        f = isolation.drop_privileges(plan.working_directory.c_str());
        if (!f) {
            ::execve(program.c_str(), argv.data(), envp.data());
            f = {"execute", program.c_str(), errno};
        }
    } catch (const std::exception& e) {
        log::info(e.what());
        ::_exit(kErrorExitCode);
    }
    char buf[512] = "stage1: ";
    size_t n = std::strlen(buf);
    n += isolation::format_failure(f, buf + n, sizeof buf - n - 1);
    buf[n++] = '\n';
    [[maybe_unused]] auto w = ::write(STDERR_FILENO, buf, n);
    ::_exit(kErrorExitCode);
}

int enter(int argc, char** argv) {
    EnterFlags flags = parse_flags(argc, argv);
    Pod pod = Pod::open_current(flags.uuid);
    if (flags.app.empty()) {
        if (pod.manifest().apps.size() != 1)
            throw Error("the pod has several apps: name one with --app");
        flags.app = pod.manifest().apps[0].name;
    }
    const RuntimeApp& app = pod.app(flags.app);
    auto init = pod.running_init_pid();
    if (!init) throw Error("pod " + pod.uuid() + " is not running");
    PodCgroups cgroups = PodCgroups::load(pod.cgroups_file());
    pid_t target = find_app_process(cgroups, app.name, *init);
    isolation::Policy policy = with_context("app \"" + app.name + "\"", [&] {
        return isolation::policy_for_app(app.app, insecure_options(pod.options()));
    });

    // Nobody in the pod may ptrace or read this still-privileged process.
    ::prctl(PR_SET_DUMPABLE, 0);
    std::string init_ns = "/proc/" + std::to_string(*init) + "/ns/";
    UniqueFd mnt = fs::open_file("/proc/" + std::to_string(target) + "/ns/mnt", O_RDONLY);
    // A pod run with --private-users: the app is in a user namespace of its own.
    UniqueFd user_ns;
    std::string app_user_ns = "/proc/" + std::to_string(target) + "/ns/user";
    if (namespace_inode(app_user_ns) != namespace_inode("/proc/self/ns/user"))
        user_ns = fs::open_file(app_user_ns, O_RDONLY);
    std::vector<std::string> procs;
    for (const auto& p : cgroups.app_join_files(app.name)) procs.push_back(p.string());
    if (!join_cgroups(procs)) throw system_error("cannot join the app's cgroups");
    join_namespace(init_ns + "ipc", CLONE_NEWIPC);
    join_namespace(init_ns + "uts", CLONE_NEWUTS);
    join_namespace(init_ns + "net", CLONE_NEWNET);
    join_namespace(init_ns + "pid", CLONE_NEWPID);
    if (::setns(mnt.get(), CLONE_NEWNS) != 0)
        throw system_error("cannot join the mount namespace of app \"" + app.name + "\"");
    if (::chdir("/") != 0) throw system_error("cannot change to the app's root");

    // Now inside the app's root: who it runs as comes from its own /etc files.
    isolation::Identity identity = with_context("app \"" + app.name + "\"", [&] {
        return isolation::resolve_identity(app.app, std::filesystem::path("/"));
    });
    ExecPlan plan;
    plan.env = app_environment(app, identity, ::isatty(STDIN_FILENO));
    plan.working_directory = app.app.working_directory.empty() ? "/" : app.app.working_directory;
    isolation::PreparedIsolation prepared = isolation::PreparedIsolation::prepare(policy, identity);

    std::optional<uid_t> owner = identity.uid;
    if (!pod.options().private_users.empty()) {
        try {
            owner = IdShift::parse(pod.options().private_users).to_host(identity.uid);
        } catch (const Error&) {
            owner.reset();
        }
    }
    EnterStreams streams = EnterStreams::open(::isatty(STDIN_FILENO), owner);
    // A reader of our output that went away is the command's business (enter_streams.cpp).
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t signals = EnterStreams::signals();
    if (::sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) throw system_error("sigprocmask");
    pid_t pid = ::fork();
    if (pid < 0) throw system_error("cannot fork");
    if (pid == 0) {
        if (!streams.attach_in_child()) {
            log::info(std::string("cannot set up the command's streams: ") + std::strerror(errno));
            ::_exit(kErrorExitCode);
        }
        exec_child(flags.command, plan, prepared, user_ns ? user_ns.get() : -1);
    }
    return streams.relay(pid);
}

}  // namespace

int main(int argc, char** argv) {
    return rkt::run_main("stage1", [&] { return enter(argc, argv); });
}
