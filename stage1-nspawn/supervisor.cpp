#include "stage1-nspawn/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <array>
#include <deque>
#include <functional>

#include "common/error.h"
#include "common/io.h"
#include "common/log.h"
#include "common/pod_files.h"
#include "common/process.h"
#include "common/strings.h"
#include "stage1-nspawn/pty.h"
#include "stage1-nspawn/relay.h"

namespace rkt::nspawn {
namespace {

class Supervisor {
public:
    explicit Supervisor(SupervisorConfig& config) : c_(config) {}

    int run() {
        sigset_t mask = supervisor_signals();
        signal_fd_ = UniqueFd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!signal_fd_) throw system_error("cannot create a signalfd");
        diagnostics_ = Outbound(c_.diagnostics.get(), STDERR_FILENO);
        ::fcntl(c_.report.get(), F_SETFL, ::fcntl(c_.report.get(), F_GETFL) | O_NONBLOCK);
        report_open_ = true;
        for (auto& app : c_.apps) {
            CappedLog* log = app.log ? &app.log : nullptr;
            if (app.out) outputs_.emplace_back(app.out.get(), STDOUT_FILENO, log);
            if (app.err) outputs_.emplace_back(app.err.get(), STDERR_FILENO, log);
            if (app.in) input_ = Inbound(STDIN_FILENO, std::move(app.in));
        }
        // Restores the terminal on every way out of here.
        std::optional<RawTerminal> raw;
        while (!init_status_) {
            std::vector<pollfd> fds;
            std::vector<std::function<void(short)>> handlers;
            auto watch = [&](pollfd p, std::function<void(short)> handler) {
                fds.push_back(p);
                handlers.push_back(std::move(handler));
            };
            watch({signal_fd_.get(), POLLIN, 0}, [&](short) { handle_signals(); });
            if (report_open_) watch({c_.report.get(), POLLIN, 0}, [&](short) { read_report(); });
            if (diagnostics_.open())
                watch({diagnostics_.fd(), POLLIN, 0},
                      [&](short) { diagnostics_.copy_available(); });
            for (auto& out : outputs_)
                if (out.open())
                    watch({out.fd(), POLLIN, 0}, [&out](short) { out.copy_available(); });
            for (auto& app : c_.apps)
                if (app.console)
                    watch({app.console.get(), POLLIN, 0}, [&](short) { take_terminal(app, raw); });
            if (input_.open()) watch(input_.poll_entry(), [&](short r) { input_.ready(r); });
            if (::poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) continue;
                throw system_error("poll");
            }
            for (size_t i = 0; i < fds.size(); ++i)
                if (fds[i].revents) handlers[i](fds[i].revents);
            // The app's terminal is gone (it and its children closed it): nothing to send it.
            if (terminal_output_ && !terminal_output_->open()) input_.close();
        }
        // The pod's processes are gone with its init: what is left in the pipes is all there is.
        while (report_open_ && read_report()) {
        }
        diagnostics_.drain();
        for (auto& out : outputs_) out.drain();
        return *init_status_;
    }

private:
    void handle_signals() {
        signalfd_siginfo info{};
        while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
            int sig = static_cast<int>(info.ssi_signo);
            if (sig == SIGCHLD) {
                int status = 0;
                pid_t pid = ::waitpid(c_.init, &status, WNOHANG);
                if (pid == c_.init) init_status_ = exit_code_from_wait_status(status);
            } else if (sig == SIGWINCH) {
                if (master_ >= 0) copy_window_size(STDIN_FILENO, master_);
            } else if ((sig == SIGINT || sig == SIGQUIT) && c_.interactive) {
                // The terminal's ^C and ^\ are the app's (they reach it through its own pty).
            } else {
                ::kill(c_.init, SIGTERM);  // the pod init stops the apps
            }
        }
    }

    void take_terminal(SupervisedApp& app, std::optional<RawTerminal>& raw) {
        UniqueFd master = receive_fd(app.console.get());
        app.console.reset();
        if (!master) return;
        master_ = master.get();
        copy_window_size(STDIN_FILENO, master_);
        raw.emplace(STDIN_FILENO);
        terminal_ = std::move(master);
        terminal_output_ = &outputs_.emplace_back(master_, STDOUT_FILENO, nullptr);
        input_ = Inbound(STDIN_FILENO, master_);
    }

    // Reads what the pod init reported; false when nothing was there.
    bool read_report() {
        std::array<char, 4096> buf{};
        ssize_t n = io::read_some(c_.report.get(), buf.data(), buf.size());
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
        if (n <= 0) {
            report_open_ = false;
            return false;
        }
        pending_report_.append(buf.data(), static_cast<size_t>(n));
        size_t end;
        while ((end = pending_report_.find('\n')) != std::string::npos) {
            std::string line = pending_report_.substr(0, end);
            pending_report_.erase(0, end + 1);
            app_ended(line);
        }
        return true;
    }

    // "exit <index> <code> <wait status>"
    void app_ended(const std::string& line) {
        auto fields = strings::split(line, ' ');
        if (fields.size() != 4 || fields[0] != "exit") return;
        for (size_t i = 1; i < 4; ++i)
            if (!strings::is_decimal(fields[i]) || fields[i].size() > 9) return;
        size_t index = std::stoul(fields[1]);
        if (index >= c_.apps.size()) return;
        const SupervisedApp& app = c_.apps[index];
        int code = std::stoi(fields[2]);
        int status = std::stoi(fields[3]);
        try {
            // Killed by the OOM killer, as the app's memory cgroup counted it: the exit code
            // alone (137) cannot tell that from a `kill -9`.
            if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
                c_.cgroups->app_oom_kills(app.name).value_or(0) > 0) {
                pod_files::write_app_end_reason(c_.pod->dir(), app.name,
                                                pod_files::kAppEndOomKilled);
                log::info(oom_message(app.name, app.memory_limit));
            }
            pod_files::write_app_status(c_.pod->dir(), app.name, code);
        } catch (const Error& e) {
            log::warn(e.what());
        }
    }

    SupervisorConfig& c_;
    UniqueFd signal_fd_, terminal_;
    int master_ = -1;
    Outbound diagnostics_;
    std::deque<Outbound> outputs_;  // a deque: handlers hold references across additions
    Outbound* terminal_output_ = nullptr;
    Inbound input_;
    bool report_open_ = false;
    std::string pending_report_;
    std::optional<int> init_status_;
};

}  // namespace

sigset_t supervisor_signals() {
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGCHLD, SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGWINCH}) sigaddset(&mask, sig);
    return mask;
}

int run_supervisor(SupervisorConfig& config) {
    return Supervisor(config).run();
}

std::string oom_message(const std::string& app, std::optional<uint64_t> memory_limit) {
    std::string limit;
    if (!memory_limit)
        limit = "no memory limit of its own: the host or a cgroup above the pod ran out";
    else if (*memory_limit % (1u << 20) == 0)
        limit = "memory limit " + std::to_string(*memory_limit >> 20) + " MiB";
    else
        limit = "memory limit " + std::to_string(*memory_limit) + " bytes";
    return "app \"" + app + "\" was killed by the OOM killer (" + limit + ")";
}

}  // namespace rkt::nspawn
