#include "vmm/vmm_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <utility>

#include "common/error.h"
#include "common/io.h"
#include "common/process.h"

namespace rkt::vmm {

namespace {

// How long a VMM may take to be jailed and, for the built-in one, to build its VM.
constexpr auto kStartTimeout = std::chrono::seconds(120);

int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

[[noreturn]] void child_fail(int report_fd, const char* what, int err) {
    char msg[512];
    const char* desc = ::strerrordesc_np(err);
    int n = std::snprintf(msg, sizeof msg, "%s: %s", what, desc ? desc : "unknown error");
    if (n > 0) (void)io::try_write_all(report_fd, {msg, std::min(sizeof msg - 1, size_t(n))});
    ::_exit(127);
}

// Everything the child needs, made before fork so that the child allocates nothing before
// exec.
struct ChildPlan {
    const PreparedJail* jail = nullptr;
    std::vector<int> sources;  // fds here, in order of `targets`
    std::vector<int> targets;  // their numbers in the child
    std::vector<int> scratch;
    int top = 0;  // the highest descriptor number involved
    int report_w = -1, lifeline_r = -1, lifeline_w = -1;
    int report_child = -1, lifeline_child = -1;
};

ChildPlan plan_child(const PreparedJail& jail, const std::vector<VmmFd>& fds, VmmStdio stdio,
                     int devnull, int report_w, int lifeline_r, int lifeline_w) {
    ChildPlan p;
    p.jail = &jail;
    p.report_w = report_w;
    p.lifeline_r = lifeline_r;
    p.lifeline_w = lifeline_w;
    p.sources = {devnull, stdio.stdout_fd >= 0 ? stdio.stdout_fd : devnull,
                 stdio.stderr_fd >= 0 ? stdio.stderr_fd : devnull};
    p.targets = {0, 1, 2};
    std::set<int> used;
    int highest_child = 2;
    for (const auto& f : fds) {
        if (f.child_fd < 3 || f.parent_fd < 0 || !used.insert(f.child_fd).second)
            throw Error("VMM process: bad descriptor hand-over " + std::to_string(f.parent_fd) +
                        " -> " + std::to_string(f.child_fd));
        p.sources.push_back(f.parent_fd);
        p.targets.push_back(f.child_fd);
        highest_child = std::max(highest_child, f.child_fd);
    }
    p.report_child = highest_child + 1;
    p.lifeline_child = highest_child + 2;
    p.sources.push_back(report_w);
    p.targets.push_back(p.report_child);
    p.sources.push_back(lifeline_r);
    p.targets.push_back(p.lifeline_child);
    p.top = std::max(
        {*std::max_element(p.sources.begin(), p.sources.end()), p.lifeline_child, lifeline_w});
    p.scratch.resize(p.sources.size());
    return p;
}

// In the child: every kept descriptor in its place, all others closed. 0 or an errno.
int arrange_fds(ChildPlan& p) {
    // First copy every source above all numbers in play, so no dup2 overwrites a source that
    // has not moved yet.
    for (size_t i = 0; i < p.sources.size(); ++i) {
        p.scratch[i] = ::fcntl(p.sources[i], F_DUPFD_CLOEXEC, p.top + 1);
        if (p.scratch[i] < 0) return errno;
    }
    for (size_t i = 0; i < p.sources.size(); ++i)
        if (::dup2(p.scratch[i], p.targets[i]) < 0) return errno;
    // The report pipe closes at exec (that is how the parent knows it worked).
    for (int fd : {p.report_child, p.lifeline_child})
        if (::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return errno;
    // Every other descriptor goes, below the last kept one too.
    for (int fd = 3; fd < p.lifeline_child; ++fd)
        if (std::find(p.targets.begin(), p.targets.end(), fd) == p.targets.end()) ::close(fd);
    if (::syscall(SYS_close_range, p.lifeline_child + 1, ~0U, 0) != 0) return errno;
    return 0;
}

bool parent_gone(int lifeline_fd) {
    pollfd pfd{lifeline_fd, POLLIN, 0};
    return ::poll(&pfd, 1, 0) != 0;
}

// The common start of the child, up to the namespaces; returns the report descriptor.
int child_start(ChildPlan& p, bool reset_signals) {
    ::close(p.lifeline_w);
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || parent_gone(p.lifeline_r)) ::_exit(127);
    if (reset_signals) {
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    }
    ::setpgid(0, 0);
    if (int e = arrange_fds(p)) child_fail(p.report_w, "arranging descriptors", e);
    const char* step = "";
    if (int e = p.jail->enter_namespaces(&step)) child_fail(p.report_child, step, e);
    return p.report_child;
}

void child_jail(const ChildPlan& p) {
    const char* step = "";
    if (int e = p.jail->build_root(&step)) child_fail(p.report_child, step, e);
    if (int e = p.jail->drop_privileges(p.lifeline_child, &step))
        child_fail(p.report_child, step, e);
}

struct Pipes {
    UniqueFd report_r, report_w, lifeline_r, lifeline_w, devnull;
};

Pipes make_pipes() {
    Pipes p;
    std::tie(p.report_r, p.report_w) = io::make_pipe().ends();
    std::tie(p.lifeline_r, p.lifeline_w) = io::make_pipe().ends();
    p.devnull.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!p.devnull) throw system_error("cannot open /dev/null");
    return p;
}

// fork() with the child as PID 1 of a new PID namespace; this process's later children stay
// in its own namespace.
pid_t fork_in_new_pid_namespace() {
    UniqueFd own(::open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC));
    if (!own) throw system_error("cannot open this process's PID namespace");
    if (::unshare(CLONE_NEWPID) != 0) throw system_error("cannot create a PID namespace");
    pid_t pid = ::fork();
    if (pid == 0) return 0;
    int fork_errno = errno;
    if (::setns(own.get(), CLONE_NEWPID) != 0) {
        int e = errno;
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        throw system_error("cannot return to this process's PID namespace", e);
    }
    if (pid < 0) throw system_error("cannot start the VMM process", fork_errno);
    return pid;
}

}  // namespace

bool single_threaded() {
    DIR* d = ::opendir("/proc/self/task");
    if (!d) return false;
    int n = 0;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n == 1;
}

// The parent's side after fork: watch the child, wait for its report (EOF: jailed, and exec'd
// or running its body), then let go of the lifeline.
VmmProcess VmmProcess::adopt(pid_t pid, UniqueFd report, UniqueFd lifeline,
                             const std::string& what) {
    VmmProcess p;
    p.pid_ = pid;
    p.pidfd_.reset(pidfd_open(pid));
    int pidfd_errno = errno;
    std::string text;
    auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd pfd{report.get(), POLLIN, 0};
        int r = io::retry_eintr(
            [&] { return ::poll(&pfd, 1, static_cast<int>(std::max<long>(left.count(), 0))); });
        if (r == 0) {
            p.kill_and_wait();
            throw Error("cannot start " + what + ": it was not ready within " +
                        std::to_string(kStartTimeout.count()) + " s");
        }
        char buf[512];
        ssize_t n = io::read_some(report.get(), buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > 4096) break;
    }
    if (!text.empty()) {
        p.kill_and_wait();
        throw Error("cannot start " + what + ": " + text);
    }
    if (!p.pidfd_) {
        p.kill_and_wait();
        throw system_error("cannot watch " + what + " (pidfd_open)", pidfd_errno);
    }
    lifeline.reset();
    return p;
}

VmmProcess VmmProcess::exec(const PreparedJail& jail, const std::vector<VmmFd>& fds, VmmStdio stdio,
                            const std::vector<std::string>& argv,
                            const std::vector<std::string>& env) {
    if (argv.empty()) throw Error("no VMM command");
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    Pipes pipes = make_pipes();
    ChildPlan plan = plan_child(jail, fds, stdio, pipes.devnull.get(), pipes.report_w.get(),
                                pipes.lifeline_r.get(), pipes.lifeline_w.get());
    pid_t pid = fork_in_new_pid_namespace();
    if (pid == 0) {
        child_start(plan, true);
        child_jail(plan);
        ::execve(cargv[0], cargv.data(), cenv.data());
        child_fail(plan.report_child, "cannot execute the VMM", errno);
    }
    pipes.report_w.reset();
    pipes.lifeline_r.reset();
    return adopt(pid, std::move(pipes.report_r), std::move(pipes.lifeline_w), argv[0]);
}

VmmProcess VmmProcess::run(const PreparedJail& jail, const std::vector<VmmFd>& fds, VmmStdio stdio,
                           const std::function<void()>& prepare, const std::function<int()>& body) {
    if (!single_threaded())
        throw Error("internal: the built-in VMM's process must be started by a single thread");
    Pipes pipes = make_pipes();
    ChildPlan plan = plan_child(jail, fds, stdio, pipes.devnull.get(), pipes.report_w.get(),
                                pipes.lifeline_r.get(), pipes.lifeline_w.get());
    pid_t pid = fork_in_new_pid_namespace();
    if (pid == 0) {
        int report = child_start(plan, false);
        try {
            prepare();
        } catch (const std::exception& e) {
            (void)io::try_write_all(report, e.what());
            ::_exit(127);
        }
        child_jail(plan);
        ::close(report);
        int code = 126;
        try {
            code = body();
        } catch (...) {
        }
        ::_exit(code);
    }
    pipes.report_w.reset();
    pipes.lifeline_r.reset();
    return adopt(pid, std::move(pipes.report_r), std::move(pipes.lifeline_w), "the built-in VMM");
}

VmmProcess::VmmProcess(VmmProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      status_(std::exchange(other.status_, std::nullopt)) {}

VmmProcess& VmmProcess::operator=(VmmProcess&& other) noexcept {
    if (this != &other) {
        if (pid_ > 0 && !status_) kill_and_wait();
        pid_ = std::exchange(other.pid_, -1);
        pidfd_ = std::move(other.pidfd_);
        status_ = std::exchange(other.status_, std::nullopt);
    }
    return *this;
}

VmmProcess::~VmmProcess() {
    if (pid_ > 0 && !status_) kill_and_wait();
}

void VmmProcess::kill() {
    if (pid_ > 0 && !status_) ::kill(pid_, SIGKILL);
}

std::optional<int> VmmProcess::try_wait() {
    if (status_ || pid_ <= 0) return status_;
    int status = 0;
    pid_t r = io::retry_eintr([&] { return ::waitpid(pid_, &status, WNOHANG); });
    if (r == pid_) status_ = exit_code_from_wait_status(status);
    return status_;
}

int VmmProcess::kill_and_wait() {
    if (status_ || pid_ <= 0) return status_.value_or(0);
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
        if (errno != EINTR) return 0;
    }
    status_ = exit_code_from_wait_status(status);
    return *status_;
}

}  // namespace rkt::vmm
