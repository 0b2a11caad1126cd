#include "stage1-nspawn/enter_streams.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/isolation_rootfs.h"
#include "common/log.h"
#include "common/process.h"
#include "stage1-nspawn/relay.h"

namespace rkt::nspawn {
namespace {}  // namespace

sigset_t EnterStreams::signals() {
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGCHLD, SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGWINCH}) sigaddset(&mask, sig);
    return mask;
}

EnterStreams EnterStreams::open(bool terminal, std::optional<uid_t> owner) {
    EnterStreams s;
    s.terminal_ = terminal;
    if (terminal) {
        UniqueFd root = fs::open_dir("/");
        rootfs::Resolved pts = rootfs::resolve(root.get(), "/dev/pts");
        if (!pts.fd) throw Error("the app has no /dev/pts to make the command's terminal in");
        s.pty_ = open_pty(pts.fd.get());
        // Its user's terminal, as login makes it; the group stays devpts's (tty).
        if (owner && ::fchown(s.pty_.slave.get(), *owner, static_cast<gid_t>(-1)) != 0)
            log::debug("cannot give the command's terminal to its user");
        copy_window_size(STDIN_FILENO, s.pty_.master.get());
        return s;
    }
    std::tie(s.in_r_, s.in_w_) = io::make_pipe().ends();
    std::tie(s.out_r_, s.out_w_) = io::make_pipe().ends();
    std::tie(s.err_r_, s.err_w_) = io::make_pipe().ends();
    return s;
}

bool EnterStreams::attach_in_child() noexcept {
    if (terminal_) return attach_terminal(pty_.slave.get());
    // A session of its own: no controlling terminal (/dev/tty) of the caller's either.
    if (::setsid() < 0) return false;
    return ::dup2(in_r_.get(), STDIN_FILENO) >= 0 && ::dup2(out_w_.get(), STDOUT_FILENO) >= 0 &&
           ::dup2(err_w_.get(), STDERR_FILENO) >= 0;
}

int EnterStreams::relay(pid_t child) {
    pty_.slave.reset();
    in_r_.reset();
    out_w_.reset();
    err_w_.reset();
    sigset_t mask = signals();
    UniqueFd signal_fd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signal_fd) throw system_error("cannot create a signalfd");
    // Restores the terminal on every way out of here.
    std::optional<RawTerminal> raw;
    std::vector<Outbound> outputs;
    Inbound input;
    if (terminal_) {
        raw.emplace(STDIN_FILENO);
        outputs.emplace_back(pty_.master.get(), STDOUT_FILENO);
        input = Inbound(STDIN_FILENO, pty_.master.get());
    } else {
        outputs.emplace_back(out_r_.get(), STDOUT_FILENO);
        outputs.emplace_back(err_r_.get(), STDERR_FILENO);
        input = Inbound(STDIN_FILENO, std::move(in_w_));
    }
    std::optional<int> code;
    while (!code) {
        std::vector<pollfd> fds = {{signal_fd.get(), POLLIN, 0}};
        for (auto& out : outputs)
            if (out.open()) fds.push_back({out.fd(), POLLIN, 0});
        size_t input_at = fds.size();
        if (input.open()) fds.push_back(input.poll_entry());
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            throw system_error("poll");
        }
        if (fds[0].revents) {
            signalfd_siginfo info{};
            while (::read(signal_fd.get(), &info, sizeof info) == sizeof info) {
                int sig = static_cast<int>(info.ssi_signo);
                if (sig == SIGCHLD) {
                    int status = 0;
                    if (::waitpid(child, &status, WNOHANG) == child)
                        code = exit_code_from_wait_status(status);
                } else if (sig == SIGWINCH) {
                    if (terminal_) copy_window_size(STDIN_FILENO, pty_.master.get());
                } else {
                    ::kill(child, sig);
                }
            }
        }
        for (size_t i = 1; i < input_at; ++i)
            if (fds[i].revents)
                for (auto& out : outputs)
                    if (out.fd() == fds[i].fd) out.copy_available();
        if (input_at < fds.size() && fds[input_at].revents) input.ready(fds[input_at].revents);
        if (terminal_ && !outputs.front().open()) input.close();
        // Nobody reads our output any more: neither shall the command's be read, so that it
        // gets SIGPIPE as if it wrote to the reader itself.
        if (!terminal_) {
            for (auto& out : outputs) {
                if (!out.open() || !out.host_gone()) continue;
                UniqueFd& end = out.fd() == out_r_.get() ? out_r_ : err_r_;
                out.stop();
                end.reset();
            }
        }
    }
    // What the command wrote before it ended (a terminal's buffered output is flushed to its
    // master before a read says there is nothing). Its background processes may keep the
    // streams open: they get end of file, or EIO, once `enter` is gone.
    for (auto& out : outputs) out.drain();
    return *code;
}

}  // namespace rkt::nspawn
