#include "stage1-nspawn/pod_init.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/log.h"
#include "common/process.h"
#include "common/unique_fd.h"
#include "stage1-nspawn/app_root.h"
#include "stage1-nspawn/cgroups.h"
#include "stage1-nspawn/init_root.h"
#include "stage1-nspawn/network.h"
#include "stage1-nspawn/pty.h"

namespace rkt::nspawn {

void AppLaunch::release() {
    cgroup_fds.clear();
    sources = AppRootSources{};
    for (UniqueFd* fd : {&out, &err, &in, &console}) fd->reset();
}

namespace {

constexpr int kHandledSignals[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
// On an app's error pipe: its process is set up and waits for the go (an error is text).
constexpr char kSetUp = '\0';
constexpr char kGo = 'G';
// Where an app's process keeps its error and go pipes once it closed everything else.
constexpr int kErrorFd = 3, kGoFd = 4;

// Closes every descriptor but those in `keep`.
void close_all_but(std::vector<int> keep) {
    std::sort(keep.begin(), keep.end());
    unsigned from = 0;
    for (int fd : keep) {
        if (fd < 0) continue;
        if (static_cast<unsigned>(fd) > from)
            ::syscall(SYS_close_range, from, static_cast<unsigned>(fd) - 1, 0);
        from = static_cast<unsigned>(fd) + 1;
    }
    ::syscall(SYS_close_range, from, ~0U, 0);
}

// The app's standard streams: its terminal, or the pipes `run` copies (stdin: the app's own
// /dev/null when it is not interactive).
void set_up_streams(const PodInitConfig& config, AppLaunch& app, Pty& console) {
    if (config.terminal) {
        if (!attach_terminal(console.slave.get()))
            throw system_error("cannot make the pseudo terminal the app's");
        send_fd(app.console.get(), console.master.get());
        console = Pty{};
        return;
    }
    UniqueFd in = config.interactive ? std::move(app.in) : fs::open_file("/dev/null", O_RDONLY);
    if (::dup2(in.get(), STDIN_FILENO) < 0 || ::dup2(app.out.get(), STDOUT_FILENO) < 0 ||
        ::dup2(app.err.get(), STDERR_FILENO) < 0)
        throw system_error("cannot set up the app's standard streams");
}

// The app's process, from fork to execve: sets up its root, says so on `error_fd`, waits for
// the go on `go_fd` (no app runs before every one is set up and the pod init holds nothing of
// the host), then drops privileges and execs. Errors go to `error_fd` as one line; exit 254.
[[noreturn]] void app_child(PodInitConfig& config, size_t index, int error_fd, int go_fd) {
    AppLaunch& app = config.apps[index];
    try {
        // Another app's mount sources and cgroups are not this one's business.
        for (size_t i = 0; i < config.apps.size(); ++i)
            if (i != index) config.apps[i].release();
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig : kHandledSignals) ::signal(sig, SIG_DFL);
        for (int sig : {SIGPIPE, SIGQUIT}) ::signal(sig, SIG_DFL);
        // Its own session and process group, so that stopping it reaches its children too.
        ::setsid();
        if (!join_cgroups(app.cgroup_fds)) throw system_error("cannot join the app's cgroups");
        Pty console =
            enter_app_root(app.plan, app.sources, {config.terminal, config.user_namespace});
        set_up_streams(config, app, console);
        app.release();
        console = Pty{};
        if (isolation::Failure f = app.isolation.restrict_paths())
            throw Error(isolation::describe(f));

        const ExecPlan& exec = app.plan.exec;
        std::string program = find_program(exec.argv[0], exec.env);
        std::vector<char*> argv, envp;
        for (const auto& a : exec.argv) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        for (const auto& e : exec.env) envp.push_back(const_cast<char*>(e.c_str()));
        envp.push_back(nullptr);

        // Nothing of the stage1 (another app's sources, the pod init's pipes) is left for the
        // app, not even for the moment between the go and execve.
        int error_copy = ::fcntl(error_fd, F_DUPFD_CLOEXEC, 10);
        int go_copy = ::fcntl(go_fd, F_DUPFD_CLOEXEC, 10);
        if (error_copy < 0 || go_copy < 0 || ::dup3(error_copy, kErrorFd, O_CLOEXEC) < 0 ||
            ::dup3(go_copy, kGoFd, O_CLOEXEC) < 0)
            throw system_error("cannot set aside the start-up pipes");
        ::syscall(SYS_close_range, kGoFd + 1, ~0U, 0);
        error_fd = kErrorFd;
        go_fd = kGoFd;

        if (!io::try_write_all(error_fd, std::string_view(&kSetUp, 1))) ::_exit(kErrorExitCode);
        char go = 0;
        if (io::read_some(go_fd, &go, 1) != 1 || go != kGo) ::_exit(kErrorExitCode);

        isolation::Failure f = app.isolation.drop_privileges(exec.working_directory.c_str());
        if (!f) {
            ::execve(program.c_str(), argv.data(), envp.data());
            f = {"execute", program.c_str(), errno};
        }
        // With the filter loaded, allocate nothing more.
        char buf[512];
        size_t n = isolation::format_failure(f, buf, sizeof buf);
        io::try_write_all(error_fd, std::string_view(buf, n));
    } catch (const std::exception& e) {
        io::try_write_all(error_fd, e.what());
    }
    ::_exit(kErrorExitCode);
}

// Reads an app's error pipe until end of file (execve closed it) or `stop_at_set_up`; returns
// the error text, if any.
std::string read_error(int fd, bool stop_at_set_up, bool* set_up) {
    std::string text;
    std::array<char, 1024> buf{};
    for (;;) {
        ssize_t n = io::read_some(fd, buf.data(), stop_at_set_up && text.empty() ? 1 : buf.size());
        if (n <= 0) break;
        if (stop_at_set_up && text.empty() && buf[0] == kSetUp) {
            *set_up = true;
            break;
        }
        text.append(buf.data(), static_cast<size_t>(n));
    }
    return text;
}

// The host's environment (rkt's caller's) is none of the pod's business, and an app that may
// read the pod init's memory would find it on its stack (/proc/1/environ): overwritten in place.
void forget_environment() {
    for (char** e = environ; e && *e; ++e) std::memset(*e, 0, std::strlen(*e));
    ::clearenv();
}

class PodInit {
public:
    explicit PodInit(PodInitConfig& config) : config_(config) {}

    int run() {
        forget_environment();
        ::setsid();
        ::signal(SIGPIPE, SIG_IGN);
        sigset_t mask;
        sigemptyset(&mask);
        for (int sig : kHandledSignals) sigaddset(&mask, sig);
        if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) throw system_error("sigprocmask");
        signal_fd_ = UniqueFd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!signal_fd_) throw system_error("cannot create a signalfd");

        int flags = CLONE_NEWUTS | CLONE_NEWIPC;
        if (config_.private_network) flags |= CLONE_NEWNET;
        if (::unshare(flags) != 0) throw system_error("cannot create the pod's namespaces");
        if (::sethostname(config_.hostname.data(), config_.hostname.size()) != 0)
            throw system_error("cannot set the hostname");
        if (config_.private_network) network::bring_up_loopback();

        // Tell `run` the namespaces exist (it sets up the network), then wait for its go.
        report(std::string(1, kReportNamespaces));
        char go = 0;
        if (io::read_some(config_.go_fd, &go, 1) != 1 || go != 'G')
            return kErrorExitCode;  // `run` failed and said why
        ::close(config_.go_fd);

        if (auto error = start_apps()) {
            log::info(*error);
            kill_everything();
            return kErrorExitCode;
        }
        report(std::string(1, kReportRunning));
        return loop();
    }

private:
    struct Running {
        size_t index;
        pid_t pid = -1;
        bool running = false;
    };

    void report(const std::string& message) { io::try_write_all(config_.report_fd, message); }

    const std::string& name(const Running& app) const { return config_.apps[app.index].plan.name; }

    // Forks every app's process, leaves the host, and lets them all exec once each is set up.
    // Returns what went wrong, naming the app.
    std::optional<std::string> start_apps() {
        io::Pipe go = io::make_pipe();
        std::vector<UniqueFd> errors;
        for (size_t i = 0; i < config_.apps.size(); ++i) {
            io::Pipe error = io::make_pipe();
            pid_t pid = ::fork();
            if (pid < 0) return "cannot fork: " + std::string(std::strerror(errno));
            if (pid == 0) {
                go.write.reset();
                error.read.reset();
                errors.clear();
                app_child(config_, i, error.write.get(), go.read.get());
            }
            apps_.push_back(Running{i, pid, true});
            errors.push_back(std::move(error.read));
        }
        // Each app's process took what it mounts and joins; the pod init keeps none of it.
        for (auto& launch : config_.apps) launch.release();
        go.read.reset();
        try {
            enter_empty_root();
            std::vector<int> keep = {STDIN_FILENO,     STDOUT_FILENO,  STDERR_FILENO,
                                     signal_fd_.get(), go.write.get(), config_.report_fd};
            for (const auto& fd : errors) keep.push_back(fd.get());
            close_all_but(keep);
            if (isolation::Failure f = config_.self.drop_privileges("/"))
                throw Error("the pod init: " + isolation::describe(f));
            // Cleared by some credential changes; and nobody in the pod may read its memory.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            ::prctl(PR_SET_DUMPABLE, 0);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        for (size_t i = 0; i < apps_.size(); ++i) {
            bool set_up = false;
            std::string error = read_error(errors[i].get(), true, &set_up);
            if (!set_up)
                return "app \"" + name(apps_[i]) +
                       "\": " + (error.empty() ? "its process ended while it was set up" : error);
        }
        std::string gos(apps_.size(), kGo);
        if (!io::try_write_all(go.write.get(), gos)) return "cannot start the apps";
        for (size_t i = 0; i < apps_.size(); ++i) {
            // execve closes the error pipe (close-on-exec): end of file means the app runs.
            std::string error = read_error(errors[i].get(), false, nullptr);
            if (!error.empty()) return "app \"" + name(apps_[i]) + "\": " + error;
            log::debug("app \"" + name(apps_[i]) + "\" started");
        }
        return std::nullopt;
    }

    int loop() {
        while (running_count() > 0) {
            std::vector<pollfd> fds;
            fds.push_back({signal_fd_.get(), POLLIN, 0});
            if (timer_fd_) fds.push_back({timer_fd_.get(), POLLIN, 0});
            if (::poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) continue;
                throw system_error("poll");
            }
            for (const auto& p : fds) {
                if (!p.revents) continue;
                if (p.fd == signal_fd_.get()) {
                    handle_signals();
                } else if (timer_fd_ && p.fd == timer_fd_.get()) {
                    log::debug("grace time over: killing what is left of the pod");
                    kill_everything();
                    timer_fd_.reset();
                }
            }
        }
        return first_failure_.value_or(0);
    }

    size_t running_count() const {
        size_t n = 0;
        for (const auto& app : apps_) n += app.running;
        return n;
    }

    void handle_signals() {
        signalfd_siginfo info{};
        while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
            if (info.ssi_signo == SIGCHLD)
                reap();
            else
                begin_stop(static_cast<int>(info.ssi_signo));
        }
    }

    void reap() {
        int status = 0;
        pid_t pid;
        while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
            for (auto& app : apps_) {
                if (app.pid != pid || !app.running) continue;
                app.running = false;
                int code = exit_code_from_wait_status(status);
                // Stopped by us: SIGTERM is a clean end, as systemd counted it for rkt.
                if (stopping_ && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) code = 0;
                record(app, code, status);
            }
        }
    }

    // `run` writes status/<app> (and why the app ended, where the exit code does not say).
    void record(const Running& app, int code, int status) {
        log::debug("app \"" + name(app) + "\" exited with " + std::to_string(code));
        report("exit " + std::to_string(app.index) + " " + std::to_string(code) + " " +
               std::to_string(status) + "\n");
        if (code != 0 && !first_failure_) {
            first_failure_ = code;
            begin_stop(0);
        }
    }

    void begin_stop(int signal) {
        if (stopping_) return;
        stopping_ = true;
        if (signal) log::debug("stopping the pod (signal " + std::to_string(signal) + ")");
        for (const auto& app : apps_) {
            if (!app.running) continue;
            ::kill(-app.pid, SIGTERM);
            ::kill(app.pid, SIGTERM);
        }
        timer_fd_ = UniqueFd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
        if (!timer_fd_) {
            kill_everything();
            return;
        }
        itimerspec spec{};
        auto ms = config_.grace.count();
        spec.it_value.tv_sec = ms / 1000;
        spec.it_value.tv_nsec = (ms % 1000) * 1000000;
        if (ms == 0) spec.it_value.tv_nsec = 1;
        ::timerfd_settime(timer_fd_.get(), 0, &spec, nullptr);
    }

    // As PID 1 of the namespace, kill(-1) reaches every other process of the pod.
    void kill_everything() { ::kill(-1, SIGKILL); }

    PodInitConfig& config_;
    std::vector<Running> apps_;
    UniqueFd signal_fd_, timer_fd_;
    bool stopping_ = false;
    std::optional<int> first_failure_;
};

}  // namespace

void pod_init_main(PodInitConfig& config) {
    int code;
    try {
        code = PodInit(config).run();
    } catch (const std::exception& e) {
        log::info(e.what());
        ::kill(-1, SIGKILL);
        code = kErrorExitCode;
    }
    ::_exit(code);
}

}  // namespace rkt::nspawn
