// stage1 `enter` (kvm): runs a command in a running app's context inside the pod's VM. The
// command goes to the run process over the control socket (an Exec frame), which relays it to
// guest-init; guest-init runs it in the app's mount namespace with the app's environment, user,
// working directory and isolation. Its output comes back here, and its exit code is ours.
// stdin is not forwarded (the command reads /dev/null).
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/error.h"
#include "common/guest_protocol.h"
#include "common/io.h"
#include "common/log.h"
#include "common/main_wrapper.h"
#include "common/pod_files.h"
#include "common/stage1_args.h"
#include "stage1-kvm/control_socket.h"

namespace {

using namespace rkt;
using namespace std::chrono_literals;

constexpr uint32_t kCommandId = 1;

int enter(int argc, char** argv) {
    Stage1EnterArgs args = parse_stage1_enter_args(argc, argv);
    std::filesystem::path pod_dir = std::filesystem::current_path();
    if (pod_dir.filename() != args.uuid)
        throw Error("the current directory is not the directory of pod " + args.uuid);
    if (args.app.empty()) {
        PodManifest m = pod_files::read_manifest(pod_dir);
        if (m.apps.size() != 1) throw Error("the pod has several apps: name one with --app");
        args.app = m.apps.front().name;
    }
    // The run process writes `pid` once every app has started (as rkt enter expects, it is
    // waited for); then the control socket takes commands.
    for (int i = 0; i < 1200 && pod_files::pod_is_alive(pod_dir) && !pod_files::read_pid(pod_dir);
         ++i)
        std::this_thread::sleep_for(100ms);
    UniqueFd control;
    for (int i = 0; i < 100 && pod_files::pod_is_alive(pod_dir); ++i) {
        control = kvm::connect_control_socket();
        if (control) break;
        std::this_thread::sleep_for(50ms);
    }
    if (!control) throw Error("pod " + args.uuid + " is not running");

    // Ctrl-C and friends go to the command, not to this process.
    sigset_t forwarded;
    sigemptyset(&forwarded);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&forwarded, sig);
    ::sigprocmask(SIG_BLOCK, &forwarded, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    UniqueFd signals(::signalfd(-1, &forwarded, SFD_CLOEXEC));
    if (!signals) throw system_error("signalfd");

    guest::FrameWriter writer;
    guest::FrameReader reader;
    writer.write(control.get(), guest::Exec{kCommandId, args.app, args.command});
    for (;;) {
        pollfd p[2] = {{control.get(), POLLIN, 0}, {signals.get(), POLLIN, 0}};
        if (::poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            throw system_error("poll");
        }
        if (p[1].revents & POLLIN) {
            signalfd_siginfo info{};
            if (::read(signals.get(), &info, sizeof info) == sizeof info)
                writer.write(control.get(),
                             guest::ExecSignal{kCommandId, static_cast<int>(info.ssi_signo)});
        }
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        bool open = reader.read_from(control.get());
        while (auto m = reader.next_message()) {
            if (auto* out = std::get_if<guest::ExecOutput>(&*m)) {
                (void)io::try_write_all(
                    out->stream == guest::Stream::kStdout ? STDOUT_FILENO : STDERR_FILENO,
                    out->data);
            } else if (auto* exited = std::get_if<guest::ExecExited>(&*m)) {
                if (!exited->error.empty()) throw Error(exited->error, exited->exit_code);
                return exited->exit_code;
            } else if (auto* error = std::get_if<guest::ErrorMessage>(&*m)) {
                throw Error(error->message);
            }
        }
        if (!open) throw Error("the pod ended before the command did");
    }
}

}  // namespace

int main(int argc, char** argv) {
    return rkt::run_main("enter", [&] { return enter(argc, argv); });
}
