#include "guest-init/supervisor.h"

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "common/error.h"
#include "common/io.h"
#include "common/process.h"
#include "guest-init/app_process.h"
#include "guest-init/app_rootfs.h"

namespace rkt::guest_init {

namespace {

// How long leftover processes get to die after SIGKILL (a process stuck in the kernel, e.g. on
// a dead 9p server, must not keep the VM alive).
constexpr auto kLeftoverTimeout = std::chrono::seconds(5);

}  // namespace

sigset_t supervisor_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPWR, SIGUSR1, SIGUSR2})
        sigaddset(&set, sig);
    return set;
}

Supervisor::Supervisor(HostChannel& host, const guest::PodSpec& spec,
                       std::map<std::string, std::string> verified_disks)
    : host_(host), spec_(spec), verified_disks_(std::move(verified_disks)) {
    sigset_t set = supervisor_signals();
    signals_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_) throw system_error("signalfd");
    grace_timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!grace_timer_) throw system_error("timerfd_create");
    loop_.add(signals_.get(), EPOLLIN, [this](uint32_t) { on_signals(); });
    loop_.add(grace_timer_.get(), EPOLLIN, [this](uint32_t) { on_grace_expired(); });
    if (host_.connected()) loop_.add(host_.fd(), EPOLLIN, [this](uint32_t) { on_host(); });
}

bool Supervisor::any_running() const {
    for (const auto& a : apps_)
        if (a.running) return true;
    return false;
}

void Supervisor::record_exit(const std::string& name, int exit_code) {
    if (exit_code != 0 && !first_failure_) {
        first_failure_ = exit_code;
        failure_reason_ = "app " + name + " failed with exit code " + std::to_string(exit_code);
        if (!starting_ && !stopping_) stop_all(false, failure_reason_);
    }
}

void Supervisor::start_apps() {
    apps_.reserve(spec_.apps.size());
    for (const auto& spec : spec_.apps) apps_.push_back(App{&spec});
    // Every app is started, as rkt starts them all at once; a failure among them stops the
    // others only once all are up, so each failure is reported with its own reason.
    starting_ = true;
    for (size_t i = 0; i < apps_.size(); ++i) {
        App& app = apps_[i];
        const auto& name = app.spec->name;
        LaunchResult result = LaunchFailure{};
        try {
            auto verified = verified_disks_.find(name);
            app.paths = prepare_app_rootfs(
                *app.spec, kAppDiskTimeout,
                verified == verified_disks_.end() ? std::string() : verified->second);
            app.cgroup = AppCgroup::create(name, app.spec->limits);
            result = launch_app(*app.spec, spec_, app.paths, app.cgroup);
        } catch (const Error& e) {
            result = LaunchFailure{126, std::string("could not start: ") + e.what()};
        }
        if (auto* failure = std::get_if<LaunchFailure>(&result)) {
            host_.error("app " + name + ": " + failure->reason);
            host_.send(guest::AppExited{name, failure->exit_code, 0, failure->reason});
            record_exit(name, failure->exit_code);
            continue;
        }
        auto& launched = std::get<LaunchedApp>(result);
        app.pid = launched.pid;
        app.running = true;
        app.out = std::move(launched.stdout_fd);
        app.err = std::move(launched.stderr_fd);
        // By index: apps_ does not move once started (reserved above).
        loop_.add(app.out.get(), EPOLLIN,
                  [this, i](uint32_t) { forward(apps_[i], guest::Stream::kStdout, false); });
        loop_.add(app.err.get(), EPOLLIN,
                  [this, i](uint32_t) { forward(apps_[i], guest::Stream::kStderr, false); });
        host_.send(guest::AppStarted{name, app.pid});
        host_.debug("app " + name + " started as pid " + std::to_string(app.pid));
    }
    starting_ = false;
    if (first_failure_ && !stopping_) stop_all(false, failure_reason_);
}

void Supervisor::read_output(UniqueFd& fd, bool drain,
                             const std::function<void(std::string)>& send) {
    static char buf[guest::kOutputChunkSize];
    while (fd) {
        ssize_t n = io::read_some(fd.get(), buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) {  // end of file (or an error, which ends the stream too)
            loop_.remove(fd.get());
            fd.reset();
            return;
        }
        send(std::string(buf, static_cast<size_t>(n)));
        if (!drain) return;
    }
}

void Supervisor::forward(App& app, guest::Stream stream, bool drain) {
    read_output(stream == guest::Stream::kStdout ? app.out : app.err, drain, [&](std::string data) {
        host_.send(guest::AppOutput{app.spec->name, stream, std::move(data)});
    });
}

void Supervisor::app_exited(App& app, int status) {
    app.running = false;
    // What the app wrote before it exited comes before its exit in the stream.
    forward(app, guest::Stream::kStdout, true);
    forward(app, guest::Stream::kStderr, true);
    int code = exit_code_from_wait_status(status);
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    // The kernel counts the kill before it sends SIGKILL, so the count is there by now.
    bool oom = sig == SIGKILL && app.cgroup.oom_kills() > 0;
    host_.send(guest::AppExited{app.spec->name, code, sig, "", oom});
    host_.debug("app " + app.spec->name + " exited with " + std::to_string(code) +
                (oom ? " (the OOM killer ended it)" : ""));
    record_exit(app.spec->name, code);
}

void Supervisor::child_ended(pid_t pid, int status) {
    for (auto& app : apps_) {
        if (app.running && app.pid == pid) {
            app_exited(app, status);
            return;
        }
    }
    for (size_t slot = 0; slot < execs_.size(); ++slot) {
        auto& e = execs_[slot];
        if (!e || e->pid != pid) continue;
        forward_exec(slot, guest::Stream::kStdout, true);
        forward_exec(slot, guest::Stream::kStderr, true);
        int code = exit_code_from_wait_status(status);
        int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        host_.send(guest::ExecExited{e->id, code, sig, ""});
        host_.debug("command " + std::to_string(e->id) + " exited with " + std::to_string(code));
        for (int fd : {e->out.get(), e->err.get()})
            if (fd >= 0) loop_.remove(fd);
        e.reset();
        return;
    }
    // Anything else is an orphan that PID 1 inherited: reaped, nothing to report.
}

void Supervisor::reap() {
    for (;;) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0) return;  // nothing more now (0), or no children at all (ECHILD)
        child_ended(pid, status);
    }
}

void Supervisor::forward_exec(size_t slot, guest::Stream stream, bool drain) {
    auto& e = execs_[slot];
    if (!e) return;
    read_output(stream == guest::Stream::kStdout ? e->out : e->err, drain, [&](std::string data) {
        host_.send(guest::ExecOutput{e->id, stream, std::move(data)});
    });
}

void Supervisor::start_exec(const guest::Exec& request) {
    auto fail = [&](int code, const std::string& reason) {
        host_.send(guest::ExecExited{request.id, code, 0, reason});
    };
    size_t free_slot = execs_.size();
    for (size_t slot = 0; slot < execs_.size(); ++slot) {
        if (execs_[slot] && execs_[slot]->id == request.id)
            return fail(126, "could not start: command id " + std::to_string(request.id) +
                                 " is already running");
        if (!execs_[slot] && free_slot == execs_.size()) free_slot = slot;
    }
    if (free_slot == execs_.size())
        return fail(126, "could not start: " + std::to_string(guest::kMaxExecs) +
                             " commands are already running in the pod");
    const App* app = nullptr;
    for (const auto& a : apps_)
        if (a.spec->name == request.app) app = &a;
    if (!app) return fail(126, "could not start: the pod has no app named " + request.app);
    if (!app->running || stopping_)
        return fail(126, "could not start: app " + request.app + " is not running");
    LaunchResult result = LaunchFailure{};
    try {
        result = launch_exec(*app->spec, app->paths, app->cgroup, app->pid, request.exec);
    } catch (const Error& e) {
        result = LaunchFailure{126, std::string("could not start: ") + e.what()};
    }
    if (auto* failure = std::get_if<LaunchFailure>(&result))
        return fail(failure->exit_code, failure->reason);
    auto& launched = std::get<LaunchedApp>(result);
    ExecProcess e;
    e.id = request.id;
    e.pid = launched.pid;
    e.out = std::move(launched.stdout_fd);
    e.err = std::move(launched.stderr_fd);
    loop_.add(e.out.get(), EPOLLIN, [this, free_slot](uint32_t) {
        forward_exec(free_slot, guest::Stream::kStdout, false);
    });
    loop_.add(e.err.get(), EPOLLIN, [this, free_slot](uint32_t) {
        forward_exec(free_slot, guest::Stream::kStderr, false);
    });
    execs_[free_slot] = std::move(e);
    host_.send(guest::ExecStarted{request.id, launched.pid});
    host_.debug("command " + std::to_string(request.id) + " started in app " + request.app +
                " as pid " + std::to_string(launched.pid));
}

void Supervisor::signal_exec(const guest::ExecSignal& request) {
    for (const auto& e : execs_) {
        if (e && e->id == request.id) {
            // Its own session and process group (setsid), so its children go too.
            ::kill(-e->pid, request.signal);
            ::kill(e->pid, request.signal);
            return;
        }
    }
    // Already ended: its ExecExited is on its way, nothing to do.
}

void Supervisor::signal_app(const App& app, int sig, bool whole_group) {
    if (!app.running) return;
    // Each app leads its own session and process group (setsid), so its children go too.
    if (whole_group) ::kill(-app.pid, sig);
    ::kill(app.pid, sig);
    // SIGKILL reaches every process of the app, also those that left its process group.
    if (sig == SIGKILL && whole_group) app.cgroup.kill_all();
}

void Supervisor::stop_all(bool force, const std::string& why) {
    host_.info("stopping the pod (" + why + ")");
    if (force) {
        for (const auto& app : apps_) signal_app(app, SIGKILL, true);
        stopping_ = true;
        return;
    }
    if (stopping_) return;  // a graceful stop is already under way
    stopping_ = true;
    for (const auto& app : apps_) signal_app(app, SIGTERM, true);
    itimerspec t{};
    t.it_value.tv_sec = spec_.stop_grace_ms / 1000;
    t.it_value.tv_nsec = static_cast<long>(spec_.stop_grace_ms % 1000) * 1'000'000;
    if (t.it_value.tv_sec == 0 && t.it_value.tv_nsec == 0) t.it_value.tv_nsec = 1;
    check_sys(::timerfd_settime(grace_timer_.get(), 0, &t, nullptr), "timerfd_settime");
}

void Supervisor::on_grace_expired() {
    uint64_t expirations;
    [[maybe_unused]] auto n = ::read(grace_timer_.get(), &expirations, sizeof expirations);
    if (!any_running()) return;
    host_.info("stop grace time is over; killing the apps that are still running");
    for (const auto& app : apps_) signal_app(app, SIGKILL, true);
}

void Supervisor::on_signals() {
    signalfd_siginfo info{};
    while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGCHLD) continue;  // reaped below, all at once
        if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT || info.ssi_signo == SIGPWR)
            stop_all(false, std::string("guest-init received ") + strsignal(info.ssi_signo));
    }
    reap();
}

void Supervisor::on_host() {
    bool open = false;
    try {
        open = host_.read_available();
        while (auto m = host_.next_message()) {
            if (const auto* stop = std::get_if<guest::StopPod>(&*m)) {
                stop_all(stop->force, stop->force ? "the host forced a stop" : "the host asked");
            } else if (const auto* sig = std::get_if<guest::SignalApps>(&*m)) {
                bool found = sig->app.empty();
                for (const auto& app : apps_) {
                    if (sig->app.empty() || app.spec->name == sig->app) {
                        signal_app(app, sig->signal, false);
                        found = true;
                    }
                }
                if (!found) host_.send(guest::ErrorMessage{"Signal: no app named " + sig->app});
            } else if (const auto* exec = std::get_if<guest::Exec>(&*m)) {
                start_exec(*exec);
            } else if (const auto* exec_signal = std::get_if<guest::ExecSignal>(&*m)) {
                signal_exec(*exec_signal);
            } else {
                host_.send(guest::ErrorMessage{
                    std::string("unexpected ") +
                    std::string(guest::message_type_name(guest::message_type(*m))) +
                    " while the pod is running"});
            }
        }
    } catch (const Error& e) {
        // Garbage from the host: say so once, and treat the host as gone.
        host_.error(e.what());
        open = false;
    }
    if (!open) {
        loop_.remove(host_.fd());
        if (any_running()) stop_all(true, "the host is gone");
    }
}

void Supervisor::end_leftovers() {
    // Every process but PID 1 (daemons the apps left behind) ends with the pod: the apps'
    // cgroups at once (a fork bomb included), then whatever else there is.
    for (const auto& app : apps_) app.cgroup.kill_all();
    ::kill(-1, SIGKILL);
    auto deadline = std::chrono::steady_clock::now() + kLeftoverTimeout;
    for (;;) {
        int status;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid < 0) break;  // ECHILD: all gone
        if (pid > 0) child_ended(pid, status);
        if (pid == 0) {
            if (std::chrono::steady_clock::now() >= deadline) {
                host_.warn("some processes did not end after SIGKILL; powering off anyway");
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    for (auto& app : apps_) {
        forward(app, guest::Stream::kStdout, true);
        forward(app, guest::Stream::kStderr, true);
    }
}

int Supervisor::run() {
    start_apps();
    while (any_running()) loop_.run_once(-1);
    end_leftovers();
    return first_failure_.value_or(0);
}

}  // namespace rkt::guest_init
