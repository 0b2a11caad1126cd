// Child processes with RAII: a ChildProcess that is neither waited for nor released is killed
// and reaped when it goes out of scope, so no error path leaves a stray process behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

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
    // Reads captured output to EOF, then waits; returns the exit code (see above).
    int wait();
    // Waits up to `timeout`; returns nullopt if still running.
    std::optional<int> wait_for(std::chrono::milliseconds timeout);
    const std::string& output() const { return output_; }
    void kill(int sig);
    // Gives up ownership: the process is no longer killed on destruction.
    pid_t release();

private:
    void drain_output();
    pid_t pid_ = -1;
    int out_fd_ = -1;
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
