#include "stage1-kvm/session_outcome.h"

#include <signal.h>

#include <cstdio>

#include "common/error.h"
#include "common/pod_files.h"

namespace rkt::kvm {

namespace {

std::string seconds_text(std::chrono::milliseconds ms) {
    char b[32];
    std::snprintf(b, sizeof b, "%g s", static_cast<double>(ms.count()) / 1000.0);
    return b;
}

// The first non-zero status in the order the apps ended, else 0.
int first_failure(const std::vector<int>& statuses) {
    for (int status : statuses)
        if (status != 0) return status;
    return 0;
}

SessionOutcome failure(std::string line) {
    return {kErrorExitCode, true, std::move(line), std::nullopt};
}

}  // namespace

std::string_view to_string(EndCause cause) {
    switch (cause) {
        case EndCause::kPodExited:
            return "pod-exited";
        case EndCause::kForceStopped:
            return "force-stopped";
        case EndCause::kStopTimedOut:
            return "stop-timed-out";
        case EndCause::kStoppedBeforeStart:
            return "stopped-before-start";
        case EndCause::kProtocolError:
            return "protocol-error";
        case EndCause::kGuestNotReading:
            return "guest-not-reading";
        case EndCause::kReadyTimeout:
            return "ready-timeout";
        case EndCause::kGuestPanicked:
            return "guest-panicked";
        case EndCause::kVmDied:
            return "vm-died";
    }
    return "unknown";
}

bool is_failure(EndCause cause) {
    switch (cause) {
        case EndCause::kPodExited:
        case EndCause::kForceStopped:
        case EndCause::kStopTimedOut:
        case EndCause::kStoppedBeforeStart:
            return false;
        case EndCause::kProtocolError:
        case EndCause::kGuestNotReading:
        case EndCause::kReadyTimeout:
        case EndCause::kGuestPanicked:
        case EndCause::kVmDied:
            return true;
    }
    return true;
}

EndCause next_end_cause(std::optional<EndCause> current, EndCause next) {
    if (!current || next == EndCause::kPodExited) return next;
    return *current;
}

AppEnd app_end(const std::string& app, int exit_code, int signal, const std::string& error,
               bool oom_killed, bool pod_stopping, const std::string& memory_limit) {
    AppEnd end;
    end.status = pod_stopping && signal == SIGTERM ? 0 : exit_code;
    end.failed = end.status != 0;
    if (!error.empty()) end.lines.push_back("app \"" + app + "\": " + error);
    if (oom_killed) {
        end.reason = pod_files::kAppEndOomKilled;
        end.lines.push_back("app \"" + app + "\" was killed by the OOM killer (" + memory_limit +
                            ")");
    }
    return end;
}

std::string memory_limit_text(std::optional<uint64_t> app_limit_bytes, uint64_t vm_memory_mib) {
    if (!app_limit_bytes)
        return "no memory limit of its own: the VM's " + std::to_string(vm_memory_mib) +
               " MiB ran out";
    // As --memory most often names it; the exact number where MiB would round it.
    uint64_t bytes = *app_limit_bytes;
    return "memory limit " + (bytes % (uint64_t{1} << 20) == 0
                                  ? std::to_string(bytes >> 20) + " MiB"
                                  : std::to_string(bytes) + " bytes");
}

SessionOutcome session_outcome(const SessionFacts& facts) {
    // A failure's line quotes the kernel's panic, which is often why the guest misbehaved.
    std::string console =
        facts.panic_line.empty() ? "" : "; the guest console says: " + facts.panic_line;
    switch (facts.cause) {
        case EndCause::kPodExited:
            // No app ended: the pod failed as a whole, and guest-init's code says how.
            if (facts.statuses.empty()) return {facts.pod_exit_code, false, "", std::nullopt};
            return {first_failure(facts.statuses), false, "", std::nullopt};
        case EndCause::kForceStopped: {
            int status = first_failure(facts.statuses);
            return {status != 0 ? status : kKilledStatus, false, "", kKilledStatus};
        }
        case EndCause::kStopTimedOut:
            return {kKilledStatus, false,
                    "the pod did not stop within its grace time; its VM was killed", kKilledStatus};
        case EndCause::kStoppedBeforeStart:
            return {0, false, "the pod was stopped before its apps started", std::nullopt};
        case EndCause::kProtocolError:
            return failure(facts.detail + console);
        case EndCause::kGuestNotReading:
            return failure("the guest does not read what the host sends (it is hung)" + console);
        case EndCause::kReadyTimeout:
            return failure("the guest did not become ready within " +
                           seconds_text(facts.ready_timeout) + " (it is hung or far too slow)" +
                           console);
        case EndCause::kGuestPanicked:
            return failure("the guest kernel panicked: " + facts.panic_line);
        case EndCause::kVmDied:
            return failure("the VM ended before the pod did (" + facts.vm_end + ")" +
                           (facts.guest_was_ready ? "" : "; guest-init never became ready"));
    }
    return failure("the pod ended for no known reason");
}

}  // namespace rkt::kvm
