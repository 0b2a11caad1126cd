// The pod's life inside the VM: start every app, forward its output, reap every process (PID 1
// inherits orphans), report each exit, stop the others when one fails or the host asks, and
// return the pod's exit code once every app is done.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <array>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/guest_protocol.h"
#include "common/unique_fd.h"
#include "guest-init/app_cgroup.h"
#include "guest-init/app_rootfs.h"
#include "guest-init/host_channel.h"

namespace rkt::guest_init {

// The signals PID 1 takes through a signalfd (blocked everywhere else in guest-init).
sigset_t supervisor_signals();

class Supervisor {
public:
    // `verified_disks`: verify_app_disks()'s devices, by app name (app_rootfs.h).
    Supervisor(HostChannel& host, const guest::PodSpec& spec,
               std::map<std::string, std::string> verified_disks = {});
    // Runs the pod to its end; returns the first non-zero app exit code (in time), else 0.
    int run();

private:
    struct App {
        const guest::GuestApp* spec = nullptr;
        AppPaths paths;
        AppCgroup cgroup;
        pid_t pid = -1;
        bool running = false;
        UniqueFd out;
        UniqueFd err;
    };
    // A command started by Exec (rkt enter).
    struct ExecProcess {
        uint32_t id = 0;
        pid_t pid = -1;
        UniqueFd out;
        UniqueFd err;
    };

    void start_apps();
    void on_signals();
    void on_host();
    void on_grace_expired();
    void reap();
    void app_exited(App& app, int status);
    void record_exit(const std::string& name, int exit_code);
    void stop_all(bool force, const std::string& why);
    void signal_app(const App& app, int sig, bool whole_group);
    // Reads what `fd` has (one read, or until it would block when `drain`), handing each chunk
    // to `send`; at end of file (or an error) unsubscribes and closes it.
    void read_output(UniqueFd& fd, bool drain, const std::function<void(std::string)>& send);
    // Forwards an app's output stream to the host (read_output).
    void forward(App& app, guest::Stream stream, bool drain);
    void end_leftovers();
    bool any_running() const;
    // A child ended: an app, an Exec command, or an orphan.
    void child_ended(pid_t pid, int status);
    void start_exec(const guest::Exec& request);
    void signal_exec(const guest::ExecSignal& request);
    void forward_exec(size_t slot, guest::Stream stream, bool drain);

    HostChannel& host_;
    const guest::PodSpec& spec_;
    std::map<std::string, std::string> verified_disks_;
    std::vector<App> apps_;
    std::array<std::optional<ExecProcess>, guest::kMaxExecs> execs_;
    EventLoop loop_;
    UniqueFd signals_;
    UniqueFd grace_timer_;
    std::optional<int> first_failure_;
    std::string failure_reason_;
    bool starting_ = false;
    bool stopping_ = false;
};

}  // namespace rkt::guest_init
