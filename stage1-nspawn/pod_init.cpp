#include "stage1-nspawn/pod_init.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <optional>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/process.h"
#include "common/unique_fd.h"
#include "stage1-nspawn/app_root.h"
#include "stage1-nspawn/cgroups.h"
#include "stage1-nspawn/network.h"

namespace rkt::nspawn {
namespace {

constexpr int kHandledSignals[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};

void write_all(int fd, const char* data, size_t size) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // the reader went away: output is best effort
        data += n;
        size -= static_cast<size_t>(n);
    }
}

void write_all(int fd, const std::string& s) {
    write_all(fd, s.data(), s.size());
}

std::pair<UniqueFd, UniqueFd> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw system_error("cannot create a pipe");
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// The app's process, from fork to execve. Errors go to `error_fd` as one line; exit 254.
[[noreturn]] void app_child(const AppLaunch& app, const RootOptions& root, int out_fd, int err_fd,
                            int devnull, int error_fd) {
    bool interactive = root.interactive;
    try {
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig : kHandledSignals) ::signal(sig, SIG_DFL);
        for (int sig : {SIGPIPE, SIGQUIT}) ::signal(sig, SIG_DFL);
        // Its own session and process group, so that stopping it reaches its children too.
        if (!interactive) ::setsid();
        if (!join_cgroups(app.cgroup_fds)) throw system_error("cannot join the app's cgroups");
        enter_app_root(app.plan, app.sources, root);
        if (!interactive) {
            if (::dup2(devnull, STDIN_FILENO) < 0 || ::dup2(out_fd, STDOUT_FILENO) < 0 ||
                ::dup2(err_fd, STDERR_FILENO) < 0)
                throw system_error("cannot set up the app's standard streams");
        }
        // Nothing of the stage1 (the pod lock, pipes, logs) leaks into the app.
        if (::syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
            throw system_error("cannot mark descriptors close-on-exec");
        if (isolation::Failure f = app.isolation.restrict_paths())
            throw Error(isolation::describe(f));

        const ExecPlan& exec = app.plan.exec;
        std::string program = find_program(exec.argv[0], exec.env);
        std::vector<char*> argv, envp;
        for (const auto& a : exec.argv) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        for (const auto& e : exec.env) envp.push_back(const_cast<char*>(e.c_str()));
        envp.push_back(nullptr);

        isolation::Failure f = app.isolation.drop_privileges(exec.working_directory.c_str());
        if (!f) {
            ::execve(program.c_str(), argv.data(), envp.data());
            f = {"execute", program.c_str(), errno};
        }
        // With the filter loaded, allocate nothing more.
        char buf[512];
        size_t n = isolation::format_failure(f, buf, sizeof buf);
        write_all(error_fd, buf, n);
    } catch (const std::exception& e) {
        write_all(error_fd, e.what());
    }
    ::_exit(kErrorExitCode);
}

class PodInit {
public:
    explicit PodInit(PodInitConfig& config) : config_(config) {}

    int run() {
        if (!config_.interactive) ::setsid();
        ::signal(SIGPIPE, SIG_IGN);
        if (config_.interactive) {
            // The terminal's ^C and ^\ are for the app.
            ::signal(SIGINT, SIG_IGN);
            ::signal(SIGQUIT, SIG_IGN);
        }
        sigset_t mask;
        sigemptyset(&mask);
        for (int sig : kHandledSignals)
            if (!(config_.interactive && sig == SIGINT)) sigaddset(&mask, sig);
        if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) throw system_error("sigprocmask");
        signal_fd_ = UniqueFd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!signal_fd_) throw system_error("cannot create a signalfd");

        // No mount namespace of its own: the pod init mounts nothing, and each app makes its own
        // from the host's. (One fewer namespace to copy, and to tear down when the pod ends:
        // freeing a mount namespace waits for an RCU grace period.)
        int flags = CLONE_NEWUTS | CLONE_NEWIPC;
        if (config_.private_network) flags |= CLONE_NEWNET;
        if (::unshare(flags) != 0) throw system_error("cannot create the pod's namespaces");
        if (::sethostname(config_.hostname.data(), config_.hostname.size()) != 0)
            throw system_error("cannot set the hostname");
        if (config_.private_network) network::bring_up_loopback();

        // Tell `run` the namespaces exist (it sets up the network), then wait for its go.
        write_all(config_.ready_fd, "N", 1);
        char go = 0;
        ssize_t got;
        do {
            got = ::read(config_.go_fd, &go, 1);
        } while (got < 0 && errno == EINTR);
        if (got != 1 || go != 'G') return kErrorExitCode;  // `run` failed and said why
        ::close(config_.go_fd);

        devnull_ = fs::open_file("/dev/null", O_RDWR);
        for (auto& launch : config_.apps) {
            apps_.push_back(Running{&launch});
            apps_.back().log = std::move(launch.log);
        }
        for (auto& app : apps_) {
            if (auto error = start(app)) {
                log::info("app \"" + app.launch->plan.name + "\": " + *error);
                kill_everything();
                return kErrorExitCode;
            }
        }
        write_all(config_.ready_fd, "R", 1);
        ::close(config_.ready_fd);
        return loop();
    }

private:
    struct Running {
        AppLaunch* launch;
        pid_t pid = -1;
        bool running = false;
        UniqueFd out, err, log;
    };

    // Forks the app; returns its error when it could not be started.
    std::optional<std::string> start(Running& app) {
        auto [out_r, out_w] = make_pipe();
        auto [err_r, err_w] = make_pipe();
        auto [error_r, error_w] = make_pipe();
        pid_t pid = ::fork();
        if (pid < 0) return "cannot fork: " + std::string(std::strerror(errno));
        if (pid == 0)
            app_child(*app.launch, {config_.interactive, config_.user_namespace}, out_w.get(),
                      err_w.get(), devnull_.get(), error_w.get());
        // The app took what it mounts; the pod init keeps no hold on it.
        app.launch->sources = AppRootSources{};
        app.launch->cgroup_fds.clear();
        app.pid = pid;
        app.running = true;
        error_w.reset();
        // execve closes the error pipe (close-on-exec): EOF means the app runs.
        std::string error;
        std::array<char, 1024> buf{};
        for (;;) {
            ssize_t n = ::read(error_r.get(), buf.data(), buf.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            error.append(buf.data(), static_cast<size_t>(n));
        }
        if (!error.empty()) return error;
        if (!config_.interactive) {
            ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
            ::fcntl(err_r.get(), F_SETFL, O_NONBLOCK);
            app.out = std::move(out_r);
            app.err = std::move(err_r);
        }
        log::debug("app \"" + app.launch->plan.name + "\" started");
        return std::nullopt;
    }

    int loop() {
        while (running_count() > 0) {
            std::vector<pollfd> fds;
            fds.push_back({signal_fd_.get(), POLLIN, 0});
            if (timer_fd_) fds.push_back({timer_fd_.get(), POLLIN, 0});
            for (auto& app : apps_) {
                if (app.out) fds.push_back({app.out.get(), POLLIN, 0});
                if (app.err) fds.push_back({app.err.get(), POLLIN, 0});
            }
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
                } else {
                    forward(p.fd);
                }
            }
        }
        for (auto& app : apps_) {  // what the apps wrote before they ended
            while (app.out && forward(app.out.get())) {
            }
            while (app.err && forward(app.err.get())) {
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
                record(app, code);
            }
        }
    }

    void record(Running& app, int code) {
        const std::string& name = app.launch->plan.name;
        log::debug("app \"" + name + "\" exited with " + std::to_string(code));
        try {
            write_status(name, code);
        } catch (const Error& e) {
            log::warn(e.what());
        }
        if (code != 0 && !first_failure_) {
            first_failure_ = code;
            begin_stop(0);
        }
    }

    // status/<app>, written next to it and renamed into place through the directory's
    // descriptor (the pod directory's path may be out of the pod init's reach).
    void write_status(const std::string& name, int code) {
        std::string tmp = "." + name + ".tmp", text = std::to_string(code) + "\n";
        int dir = config_.status_dir.get();
        UniqueFd fd(::openat(dir, tmp.c_str(),
                             O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
        if (!fd) throw system_error("cannot write the status of app \"" + name + "\"");
        write_all(fd.get(), text);
        fd.reset();
        if (::renameat(dir, tmp.c_str(), dir, name.c_str()) != 0)
            throw system_error("cannot write the status of app \"" + name + "\"");
    }

    void begin_stop(int signal) {
        if (stopping_) return;
        stopping_ = true;
        if (signal) log::debug("stopping the pod (signal " + std::to_string(signal) + ")");
        for (const auto& app : apps_) {
            if (!app.running) continue;
            ::kill(config_.interactive ? app.pid : -app.pid, SIGTERM);
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

    // Copies what is available on an app's pipe to our stdout/stderr and its log. Returns false
    // at EOF or when nothing more is available.
    bool forward(int fd) {
        for (auto& app : apps_) {
            bool is_out = app.out && app.out.get() == fd;
            bool is_err = app.err && app.err.get() == fd;
            if (!is_out && !is_err) continue;
            std::array<char, 65536> buf{};
            ssize_t n = ::read(fd, buf.data(), buf.size());
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
            if (n <= 0) {
                (is_out ? app.out : app.err).reset();
                return false;
            }
            write_all(is_out ? STDOUT_FILENO : STDERR_FILENO, buf.data(), static_cast<size_t>(n));
            if (app.log) write_all(app.log.get(), buf.data(), static_cast<size_t>(n));
            return true;
        }
        return false;
    }

    PodInitConfig& config_;
    std::vector<Running> apps_;
    UniqueFd signal_fd_, timer_fd_, devnull_;
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
