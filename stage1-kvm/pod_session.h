// The host side of a running kvm pod: one event loop over the guest protocol channel, the VM's
// end, the stage1's signals, the control socket (stop, enter) and a watchdog timer. It sends
// the PodSpec once guest-init is Ready, forwards the apps' output to this process's stdout and
// stderr and to logs/<app>.log (capped: common/capped_log.h), writes status/<app> as apps exit,
// relays enter's commands, and ends with the pod's exit code — or with an Error that says why the
// pod could not finish (a guest that never became ready, a kernel panic, a VM that died, a broken
// channel). Its state is a Phase, a StopState and, once decided, an EndCause
// (session_outcome.h), which alone make the pod's end.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/capped_log.h"
#include "common/event_loop.h"
#include "common/guest_protocol.h"
#include "common/unique_fd.h"
#include "stage1-kvm/pod_plan.h"
#include "stage1-kvm/session_outcome.h"
#include "stage1-kvm/vm_engine.h"

namespace rkt::kvm {

struct SessionConfig {
    stdfs::path pod_dir;
    const PodPlan* plan = nullptr;
    VmEngine* engine = nullptr;
    stdfs::path console_log;
    // No Ready from guest-init within this time: the guest is hung; the VM is killed.
    std::chrono::milliseconds ready_timeout{60'000};
    // Each app's log rotates at this size (common/capped_log.h).
    uint64_t log_limit = kDefaultLogLimit;
    // After PodExited the VM ends by itself; after this long it is killed.
    std::chrono::milliseconds end_timeout{10'000};
};

// The kernel's panic line in a console's text ("Kernel panic - not syncing: ..."), taken only
// from a line in the kernel's own format ("[    1.234567] Kernel panic ..."; the last such line),
// else "". Whatever else wrote to the console (guest-init's "guest-init: " lines) never matches.
std::string kernel_panic_line(std::string_view console);

// Bytes waiting to be written to a non-blocking descriptor (the guest channel, a control
// client): nothing the peer does (not reading) can block the loop.
class OutBuffer {
public:
    void append(std::string bytes) { data_ += bytes; }
    // Writes what the descriptor takes; false when it failed for good (the peer is gone).
    bool flush(int fd);
    size_t size() const { return data_.size() - offset_; }
    bool empty() const { return size() == 0; }

private:
    std::string data_;
    size_t offset_ = 0;
};

class PodSession {
public:
    // `guest` is the host end of the protocol channel (non-blocking), `control` the listening
    // control socket, `signals` a signalfd for SIGTERM/SIGINT/SIGHUP (graceful stop; a second
    // one forces it).
    PodSession(SessionConfig config, UniqueFd guest, UniqueFd control, UniqueFd signals);
    ~PodSession();
    PodSession(const PodSession&) = delete;
    PodSession& operator=(const PodSession&) = delete;

    // Runs the pod to its end. Returns its exit code; throws rkt::Error when it could not end
    // normally (the VM is over by then either way).
    int run();

    // The guest's boot-to-Ready time (its CLOCK_MONOTONIC when guest-init was ready).
    std::optional<uint64_t> guest_ready_ns() const { return ready_ns_; }

private:
    enum class AppState { kWaiting, kStarted, kEnded };
    struct App {
        std::string name;
        CappedLog log;  // logs/<app>.log, rotated to .log.1 at its limit
        AppState state = AppState::kWaiting;
    };
    struct Client {
        UniqueFd fd;
        guest::FrameReader reader;
        guest::FrameWriter writer;
        OutBuffer out;
        std::map<uint32_t, uint32_t> execs;  // the client's id -> the id sent to the guest
        bool watching_out = false;
    };
    struct ExecRoute {
        int client_fd = -1;
        uint32_t client_id = 0;
    };

    void arm_timer();

    void on_guest(uint32_t events);
    void on_guest_readable();
    // Unsubscribes and closes the guest channel (the VM's end is seen through the engine).
    void close_guest();
    void on_guest_message(guest::Message& message);
    void send_to_guest(const guest::Message& message);
    void flush_guest();
    void on_timer();
    void on_signals();
    void on_vm_ended();
    void request_stop(bool force, const std::string& why);
    void kill_vm(const std::string& why);
    // Sets why the pod ends, by next_end_cause()'s rule; every cause is decided through here.
    void end_because(EndCause cause, std::string detail = "");
    // A cause that leaves nothing to trust on the channel: ends the pod, the VM and the channel.
    void fail(EndCause cause, std::string detail = "");

    void on_app_output(const guest::AppOutput& m);
    void on_app_exited(const guest::AppExited& m);
    App* find_app(const std::string& name);
    void maybe_write_pid();
    std::string memory_limit_of(const std::string& app) const;

    void accept_clients();
    void on_client(int fd, uint32_t events);
    void on_client_message(Client& client, guest::Message& message);
    void send_to_client(Client& client, const guest::Message& message);
    void drop_client(int fd);
    void relay_exec(const guest::Message& message, uint32_t global_id);

    int finish_result();
    std::string console_panic_line() const;

    SessionConfig config_;
    EventLoop loop_;
    UniqueFd guest_;
    UniqueFd control_;
    UniqueFd signals_;
    UniqueFd timer_;
    guest::FrameReader reader_;
    guest::FrameWriter writer_;
    OutBuffer guest_out_;
    bool guest_watching_out_ = false;

    std::vector<App> apps_;
    std::map<int, std::unique_ptr<Client>> clients_;
    std::map<uint32_t, ExecRoute> exec_routes_;
    uint32_t next_exec_id_ = 1;

    using Clock = std::chrono::steady_clock;
    Clock::time_point started_;
    std::optional<Clock::time_point> ready_deadline_;
    std::optional<Clock::time_point> end_deadline_;

    Phase phase_ = Phase::kBooting;
    StopState stop_ = StopState::kNone;
    std::optional<EndCause> end_cause_;
    std::string end_detail_;  // what the cause needs said (a protocol error's text)

    std::optional<uint64_t> ready_ns_;
    int signals_seen_ = 0;
    int pod_exit_code_ = 0;        // PodExited's
    std::vector<int> statuses_;    // the apps' recorded statuses, in the order they ended
    std::optional<VmEnd> vm_end_;  // once the VM is over (before the last of the channel is read)
    std::string panic_line_;  // the console's, read at the VM's end when the cause is a failure
};

}  // namespace rkt::kvm
