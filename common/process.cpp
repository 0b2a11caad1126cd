#include "common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <thread>
#include <utility>

#include "common/error.h"
#include "common/strings.h"

namespace rkt {

int exit_code_from_wait_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

ChildProcess ChildProcess::spawn(const std::vector<std::string>& argv, const SpawnOptions& opts) {
    if (argv.empty()) throw Error("cannot run an empty command");
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    if (opts.env) {
        for (const auto& e : *opts.env) cenv.push_back(const_cast<char*>(e.c_str()));
        cenv.push_back(nullptr);
    }
    int pipe_fds[2] = {-1, -1};
    if (opts.capture_stdout && ::pipe2(pipe_fds, O_CLOEXEC) < 0)
        throw system_error("cannot create a pipe");
    // An exec failure is reported back through this pipe (CLOEXEC closes it on success).
    int err_pipe[2];
    if (::pipe2(err_pipe, O_CLOEXEC) < 0) throw system_error("cannot create a pipe");

    pid_t pid = ::fork();
    if (pid < 0) throw system_error("cannot fork");
    if (pid == 0) {
        if (opts.new_process_group) ::setpgid(0, 0);
        if (opts.null_stdin) {
            int devnull = ::open("/dev/null", O_RDONLY);
            if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
        }
        if (opts.capture_stdout) {
            ::dup2(pipe_fds[1], STDOUT_FILENO);
            if (opts.capture_stderr) ::dup2(pipe_fds[1], STDERR_FILENO);
        }
        if (opts.cwd && ::chdir(opts.cwd->c_str()) < 0) {
            int e = errno;
            [[maybe_unused]] auto n = ::write(err_pipe[1], &e, sizeof e);
            ::_exit(127);
        }
        if (opts.env)
            ::execvpe(cargv[0], cargv.data(), cenv.data());
        else
            ::execvp(cargv[0], cargv.data());
        int e = errno;
        [[maybe_unused]] auto n = ::write(err_pipe[1], &e, sizeof e);
        ::_exit(127);
    }
    ::close(err_pipe[1]);
    int child_errno = 0;
    ssize_t got;
    do {
        got = ::read(err_pipe[0], &child_errno, sizeof child_errno);
    } while (got < 0 && errno == EINTR);
    ::close(err_pipe[0]);
    ChildProcess child;
    child.pid_ = pid;
    if (opts.capture_stdout) {
        ::close(pipe_fds[1]);
        child.out_fd_ = pipe_fds[0];
    }
    if (got == sizeof child_errno) {
        child.wait();
        throw system_error("cannot run " + argv[0], child_errno);
    }
    return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      out_fd_(std::exchange(other.out_fd_, -1)),
      output_(std::move(other.output_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
        this->~ChildProcess();
        pid_ = std::exchange(other.pid_, -1);
        out_fd_ = std::exchange(other.out_fd_, -1);
        output_ = std::move(other.output_);
    }
    return *this;
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (out_fd_ >= 0) ::close(out_fd_);
}

void ChildProcess::drain_output() {
    if (out_fd_ < 0) return;
    std::array<char, 65536> buf{};
    for (;;) {
        ssize_t n = ::read(out_fd_, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        output_.append(buf.data(), static_cast<size_t>(n));
    }
    ::close(out_fd_);
    out_fd_ = -1;
}

int ChildProcess::wait() {
    drain_output();
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
        if (errno != EINTR) throw system_error("cannot wait for process");
    }
    pid_ = -1;
    return exit_code_from_wait_status(status);
}

std::optional<int> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (out_fd_ >= 0) {
            // Keep the pipe drained so a chatty child cannot block on a full pipe.
            pollfd p{out_fd_, POLLIN, 0};
            if (::poll(&p, 1, 0) > 0) {
                std::array<char, 65536> buf{};
                ssize_t n = ::read(out_fd_, buf.data(), buf.size());
                if (n > 0) output_.append(buf.data(), static_cast<size_t>(n));
                if (n == 0) {
                    ::close(out_fd_);
                    out_fd_ = -1;
                }
            }
        }
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            pid_ = -1;
            drain_output();
            return exit_code_from_wait_status(status);
        }
        if (r < 0 && errno != EINTR) throw system_error("cannot wait for process");
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

void ChildProcess::kill(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
}

pid_t ChildProcess::release() {
    return std::exchange(pid_, -1);
}

CommandResult run_command(const std::vector<std::string>& argv, const SpawnOptions& opts) {
    ChildProcess child = ChildProcess::spawn(argv, opts);
    int code = child.wait();
    return CommandResult{code, child.output()};
}

std::string run_command_checked(const std::vector<std::string>& argv, SpawnOptions opts) {
    opts.capture_stdout = true;
    opts.capture_stderr = true;
    CommandResult r = run_command(argv, opts);
    if (r.exit_code != 0) {
        throw Error(argv[0] + " failed with exit code " + std::to_string(r.exit_code) + ": " +
                    strings::trim(r.output));
    }
    return r.output;
}

std::optional<std::string> find_executable(const std::string& name) {
    if (name.find('/') != std::string::npos) {
        return ::access(name.c_str(), X_OK) == 0 ? std::optional(name) : std::nullopt;
    }
    const char* path = std::getenv("PATH");
    std::string p = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const auto& dir : strings::split(p, ':')) {
        std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            ::access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    return std::nullopt;
}

}  // namespace rkt
