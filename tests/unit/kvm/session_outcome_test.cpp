// The kvm pod's end as a table: one row per end cause (and per app-status rule), each with the
// exit code and the one line rkt run prints. pod_session_test.cpp runs the same rules through a
// session against a scripted guest.
#include "stage1-kvm/session_outcome.h"

#include <signal.h>

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace rkt::kvm {
namespace {

using namespace std::chrono_literals;

struct OutcomeRow {
    const char* what;
    EndCause cause;
    std::vector<int> statuses;
    std::string panic_line;
    bool guest_was_ready;
    // Expected:
    int exit_code;
    bool failed;
    std::string line;
    std::optional<int> unfinished_app_status;
};

TEST(SessionOutcome, EveryCauseAsATable) {
    const std::string panic = "Kernel panic - not syncing: Attempted to kill init!";
    const std::vector<OutcomeRow> rows = {
        {"every app exited 0", EndCause::kPodExited, {0, 0}, "", true, 0, false, "", {}},
        {"the first non-zero status in time",
         EndCause::kPodExited,
         {0, 3, 5},
         "",
         true,
         3,
         false,
         "",
         {}},
        {"no app ended: PodExited's own code",
         EndCause::kPodExited,
         {},
         "",
         true,
         42,
         false,
         "",
         {}},
        {"a force stop: apps still running get 137",
         EndCause::kForceStopped,
         {},
         "",
         true,
         137,
         false,
         "",
         137},
        {"a force stop after an app failed: its status",
         EndCause::kForceStopped,
         {0, 2},
         "",
         true,
         2,
         false,
         "",
         137},
        {"a force stop after the apps exited 0",
         EndCause::kForceStopped,
         {0, 0},
         "",
         true,
         137,
         false,
         "",
         137},
        {"a graceful stop that timed out",
         EndCause::kStopTimedOut,
         {3},
         "",
         true,
         137,
         false,
         "the pod did not stop within its grace time; its VM was killed",
         137},
        {"stopped before the apps started",
         EndCause::kStoppedBeforeStart,
         {},
         "",
         true,
         0,
         false,
         "the pod was stopped before its apps started",
         {}},
        {"garbage from the guest",
         EndCause::kProtocolError,
         {0},
         "",
         true,
         kErrorExitCode,
         true,
         "guest protocol: bad frame magic",
         {}},
        {"garbage, and a panic on the console",
         EndCause::kProtocolError,
         {},
         panic,
         true,
         kErrorExitCode,
         true,
         "guest protocol: bad frame magic; the guest console says: " + panic,
         {}},
        {"a guest that does not read",
         EndCause::kGuestNotReading,
         {},
         "",
         true,
         kErrorExitCode,
         true,
         "the guest does not read what the host sends (it is hung)",
         {}},
        {"the watchdog",
         EndCause::kReadyTimeout,
         {},
         "",
         false,
         kErrorExitCode,
         true,
         "the guest did not become ready within 1.5 s (it is hung or far too slow)",
         {}},
        {"the watchdog, and a panic on the console",
         EndCause::kReadyTimeout,
         {},
         panic,
         false,
         kErrorExitCode,
         true,
         "the guest did not become ready within 1.5 s (it is hung or far too slow); the guest "
         "console says: " +
             panic,
         {}},
        {"a kernel panic",
         EndCause::kGuestPanicked,
         {0},
         panic,
         true,
         kErrorExitCode,
         true,
         "the guest kernel panicked: " + panic,
         {}},
        {"the VM died after Ready",
         EndCause::kVmDied,
         {0},
         "",
         true,
         kErrorExitCode,
         true,
         "the VM ended before the pod did (QEMU was killed by signal 9)",
         {}},
        {"the VM died before Ready",
         EndCause::kVmDied,
         {},
         "",
         false,
         kErrorExitCode,
         true,
         "the VM ended before the pod did (QEMU was killed by signal 9); guest-init never became "
         "ready",
         {}},
    };
    for (const auto& row : rows) {
        SessionFacts facts;
        facts.cause = row.cause;
        facts.detail = "guest protocol: bad frame magic";
        facts.statuses = row.statuses;
        facts.pod_exit_code = 42;
        facts.panic_line = row.panic_line;
        facts.vm_end = "QEMU was killed by signal 9";
        facts.guest_was_ready = row.guest_was_ready;
        facts.ready_timeout = 1500ms;
        SessionOutcome outcome = session_outcome(facts);
        EXPECT_EQ(outcome.exit_code, row.exit_code) << row.what;
        EXPECT_EQ(outcome.failed, row.failed) << row.what;
        EXPECT_EQ(outcome.line, row.line) << row.what;
        EXPECT_EQ(outcome.unfinished_app_status, row.unfinished_app_status) << row.what;
        // The stage1's own failures, and only they, are kErrorExitCode with an error line.
        EXPECT_EQ(outcome.failed, is_failure(row.cause)) << row.what;
    }
}

TEST(SessionOutcome, TheFirstCauseWinsButPodExitedAlways) {
    const std::vector<EndCause> all = {
        EndCause::kPodExited,          EndCause::kForceStopped,  EndCause::kStopTimedOut,
        EndCause::kStoppedBeforeStart, EndCause::kProtocolError, EndCause::kGuestNotReading,
        EndCause::kReadyTimeout,       EndCause::kGuestPanicked, EndCause::kVmDied,
    };
    for (EndCause first : all) {
        EXPECT_EQ(next_end_cause(std::nullopt, first), first) << to_string(first);
        for (EndCause later : all) {
            EndCause expected = later == EndCause::kPodExited ? later : first;
            EXPECT_EQ(next_end_cause(first, later), expected)
                << to_string(first) << " then " << to_string(later);
        }
    }
}

struct AppRow {
    const char* what;
    int exit_code;
    int signal;
    std::string error;
    bool oom_killed;
    bool pod_stopping;
    // Expected:
    int status;
    bool failed;
    std::string reason;
    std::vector<std::string> lines;
};

TEST(SessionOutcome, AnAppsEndAsATable) {
    const std::vector<AppRow> rows = {
        {"exited 0", 0, 0, "", false, false, 0, false, "", {}},
        {"exited 3", 3, 0, "", false, false, 3, true, "", {}},
        {"SIGTERM from the pod's own stop is a clean end",
         143,
         SIGTERM,
         "",
         false,
         true,
         0,
         false,
         "",
         {}},
        {"SIGTERM from elsewhere is not", 143, SIGTERM, "", false, false, 143, true, "", {}},
        {"SIGKILL during a stop still counts", 137, SIGKILL, "", false, true, 137, true, "", {}},
        {"could not execute",
         127,
         0,
         "could not execute: /web: no such file",
         false,
         false,
         127,
         true,
         "",
         {"app \"web\": could not execute: /web: no such file"}},
        {"the OOM killer",
         137,
         SIGKILL,
         "",
         true,
         false,
         137,
         true,
         "oom-killed",
         {"app \"web\" was killed by the OOM killer (memory limit 64 MiB)"}},
        {"the OOM killer during a stop",
         137,
         SIGKILL,
         "",
         true,
         true,
         137,
         true,
         "oom-killed",
         {"app \"web\" was killed by the OOM killer (memory limit 64 MiB)"}},
    };
    for (const auto& row : rows) {
        AppEnd end = app_end("web", row.exit_code, row.signal, row.error, row.oom_killed,
                             row.pod_stopping, "memory limit 64 MiB");
        EXPECT_EQ(end.status, row.status) << row.what;
        EXPECT_EQ(end.failed, row.failed) << row.what;
        EXPECT_EQ(end.reason, row.reason) << row.what;
        EXPECT_EQ(end.lines, row.lines) << row.what;
    }
}

TEST(SessionOutcome, TheMemoryLimitAsTheOomLineNamesIt) {
    EXPECT_EQ(memory_limit_text(64u << 20, 192), "memory limit 64 MiB");
    EXPECT_EQ(memory_limit_text((64u << 20) + 1, 192), "memory limit 67108865 bytes");
    EXPECT_EQ(memory_limit_text(uint64_t{8} << 30, 8384), "memory limit 8192 MiB");
    EXPECT_EQ(memory_limit_text(std::nullopt, 192),
              "no memory limit of its own: the VM's 192 MiB ran out");
}

}  // namespace
}  // namespace rkt::kvm
