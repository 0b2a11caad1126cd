// What a kvm pod's session is doing (its phase), why it ended (its end cause), and what its end
// then is: the pod's exit code and the one line rkt run prints. The rules are pure functions of
// what the session saw (pod_session.cpp decides each fact once), so each is tested as a table
// (tests/unit/kvm/session_outcome_test.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rkt::kvm {

// How far the pod got; it only ever moves forward (a stop is told apart by StopState).
enum class Phase {
    kBooting,    // the VM runs; no PodSpec sent yet (no Ready, or a stop came first)
    kStarting,   // Ready came and the PodSpec is sent: the apps are starting
    kRunning,    // every app has started or failed to start: `pid` is written, enter works
    kPodExited,  // guest-init reported the pod's end; the VM is ending by itself
    kEnded,      // the VM is over
};

// Whether the pod's apps are being stopped, and why (ordered: a later one supersedes).
enum class StopState {
    kNone,
    kAppFailed,  // an app ended non-zero: guest-init stops the other apps
    kGraceful,   // stop, or a first signal: StopPod sent (or due at Ready)
    kForced,     // stop --force, or a second signal: the VM is killed at once
};

// Every reason a session ends; exactly one per pod, the first one seen (next_end_cause()).
enum class EndCause {
    kPodExited,           // guest-init reported the pod's end: the apps' statuses decide
    kForceStopped,        // stop --force or a second signal killed the VM
    kStopTimedOut,        // a graceful stop did not end the VM in the grace time + margin
    kStoppedBeforeStart,  // a stop came before Ready; the VM then powered off by itself
    kProtocolError,       // the guest sent what the protocol does not allow (garbage)
    kGuestNotReading,     // the guest left 4 MiB unread: it is hung
    kReadyTimeout,        // the watchdog: no Ready within the ready timeout
    kGuestPanicked,       // the VM ended by itself and its console has the kernel's panic
    kVmDied,              // the VM ended before the pod did, otherwise (killed, crashed)
};

// "pod-exited", "force-stopped", ...: the names docs/kvm-stage1.md gives them.
std::string_view to_string(EndCause cause);

// True for the causes that are the stage1's own failure: the pod could not finish, rkt run
// prints one line and exits kErrorExitCode. Only these quote the guest's console.
bool is_failure(EndCause cause);

// The one rule that picks the cause: the first one seen wins, except that PodExited always
// does. PodExited is guest-init's account of every app's end and is its last frame; it can only
// be read after another cause when the host had begun to kill the VM (a force stop, a stop or
// ready timeout) after guest-init wrote it, so the pod did end as guest-init says.
EndCause next_end_cause(std::optional<EndCause> current, EndCause next);

// How the pod counts one app's end.
struct AppEnd {
    int status = 0;                  // what status/<app> records and the pod's exit code considers
    bool failed = false;             // non-zero: guest-init stops the other apps
    std::string reason;              // status/<app>.reason ("oom-killed"), or ""
    std::vector<std::string> lines;  // what to tell the user, each one line
};
// `exit_code`, `signal`, `error` and `oom_killed` as AppExited reports them; `pod_stopping`:
// the pod was stopping its apps when this one ended (its own SIGTERM is then a clean end, as
// rkt's systemd counted it); `memory_limit` as memory_limit_text() says it.
AppEnd app_end(const std::string& app, int exit_code, int signal, const std::string& error,
               bool oom_killed, bool pod_stopping, const std::string& memory_limit);

// "memory limit 64 MiB" (the exact number of bytes where MiB would round it), or what ran out
// when the app had no limit of its own.
std::string memory_limit_text(std::optional<uint64_t> app_limit_bytes, uint64_t vm_memory_mib);

// What the session saw by the end, beyond its cause.
struct SessionFacts {
    EndCause cause = EndCause::kVmDied;
    std::string detail;            // kProtocolError: what was wrong with the guest's bytes
    std::vector<int> statuses;     // the apps' statuses (AppEnd::status), in the order they ended
    int pod_exit_code = 0;         // PodExited's own code: the pod's when no app ended
    std::string panic_line;        // the console's kernel panic line (kernel_panic_line()), or ""
    std::string vm_end;            // how the engine says the VM ended (VmEnd::description)
    bool guest_was_ready = false;  // guest-init said Ready
    std::chrono::milliseconds ready_timeout{0};
};

// The signal a force stop kills with: apps still running get 128 + SIGKILL.
inline constexpr int kKilledStatus = 137;

struct SessionOutcome {
    int exit_code = 0;    // the pod's, or kErrorExitCode when the pod could not finish
    bool failed = false;  // `line` is then the error (rkt::Error's message)
    std::string line;     // the one line to print (the error, or a notice), or ""
    // The status of every app that had not ended when the VM did (it was killed under them).
    std::optional<int> unfinished_app_status;
};

SessionOutcome session_outcome(const SessionFacts& facts);

}  // namespace rkt::kvm
