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
    bool new_process_group = false;
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
    // missing or refused it looks every 5 ms instead); returns nullopt if still running.
    std::optional<int> wait_for(std::chrono::milliseconds timeout);
    const std::string& output() const { return output_; }
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
    void require_child(const char* what) const;

    pid_t pid_ = -1;
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
