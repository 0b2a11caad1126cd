// Child processes with RAII: a ChildProcess that is neither waited for nor released is killed
// and reaped when it goes out of scope, so no error path leaves a stray process behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace rkt {

// Exit code as a shell reports it: the exit status, or 128 + signal number.
int exit_code_from_wait_status(int status);

struct SpawnOptions {
    std::optional<std::string> cwd;
    // When set, replaces the environment entirely; otherwise the child inherits ours.
    std::optional<std::vector<std::string>> env;
    bool capture_stdout = false;
    bool capture_stderr = false;  // merged into the captured stdout
    bool null_stdin = true;
    // When set, the child's stdin reads these bytes, then end of file (an anonymous file, so a
    // child that writes before it reads cannot deadlock against us). Overrides null_stdin.
    std::optional<std::string> stdin_data;
    // When non-zero, at most this many bytes of captured output are kept; the rest is read and
    // dropped (so the child never blocks on a full pipe), and output_truncated() says so.
    size_t output_limit = 0;
    bool new_process_group = false;
    // With new_process_group: kill() signals the whole group, and when the child has ended (or
    // is killed on destruction) whatever is left of its group is killed too, before the child is
    // reaped (so the group id cannot have been reused). For untrusted helpers: no grandchild
    // outlives them or keeps their output pipe open.
    bool kill_process_group = false;
};

class ChildProcess {
public:
    static ChildProcess spawn(const std::vector<std::string>& argv, const SpawnOptions& opts = {});

    ChildProcess() = default;
    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess();

    pid_t pid() const { return pid_; }
    // Reads captured output to EOF, then waits; returns the exit code (see above). Once the
    // child is reaped (or released), wait and wait_for throw.
    int wait();
    // Waits up to `timeout`, asleep until the child ends or writes (a pidfd; where pidfd_open is
    // missing or refused it looks every 5 ms instead); returns nullopt if still running. Once the
    // child has ended, its captured output is read until end of file or until `timeout` is up
    // (then what came so far is kept), so the call never takes much longer than `timeout`.
    std::optional<int> wait_for(std::chrono::milliseconds timeout);
    const std::string& output() const { return output_; }
    // Whether output beyond SpawnOptions::output_limit was dropped.
    bool output_truncated() const { return output_truncated_; }
    // Signals the child (its whole group with kill_process_group).
    void kill(int sig);
    // Gives up ownership: the process is no longer killed on destruction.
    pid_t release();

private:
    void kill_and_reap() noexcept;
    // Reaps the child if it has ended: its exit code, else nullopt.
    std::optional<int> try_reap();
    // Sleeps until the child ends, its output is readable or `limit` passes; reads what came.
    void await_event(std::chrono::nanoseconds limit);
    void drain_output();
    // Reads the output until end of file or `deadline`, then stops capturing.
    void drain_output_until(std::chrono::steady_clock::time_point deadline);
    void append_output(const char* data, size_t size);
    void kill_rest_of_group() noexcept;
    void require_child(const char* what) const;

    pid_t pid_ = -1;
    bool kill_group_ = false;
    size_t output_limit_ = 0;
    bool output_truncated_ = false;
    UniqueFd pidfd_;   // readable once the child ends; invalid without kernel support
    UniqueFd out_fd_;  // the captured stdout (and stderr), until end of file
    std::string output_;
};

struct CommandResult {
    int exit_code = 0;
    std::string output;
};

// Runs argv to completion and returns its exit code and (if captured) output.
CommandResult run_command(const std::vector<std::string>& argv, const SpawnOptions& opts = {});
// Like run_command but throws an Error naming the command and its output when it fails.
std::string run_command_checked(const std::vector<std::string>& argv, SpawnOptions opts = {});

// Finds an executable on PATH; nullopt if absent.
std::optional<std::string> find_executable(const std::string& name);

}  // namespace rkt
