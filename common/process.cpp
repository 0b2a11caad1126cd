#include "common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <utility>

#include "common/error.h"
#include "common/io.h"
#include "common/strings.h"

namespace rkt {

int exit_code_from_wait_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

namespace {

// A descriptor that becomes readable when `pid` ends; invalid (not an error) on a kernel without
// pidfd_open (before Linux 5.3) or under a seccomp filter that refuses it, where wait_for falls
// back to looking every few milliseconds.
UniqueFd open_pidfd(pid_t pid) {
    UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!fd && errno != ENOSYS && errno != EPERM)
        throw system_error("cannot watch process " + std::to_string(pid));
    return fd;
}

constexpr auto kPollWithoutPidfd = std::chrono::milliseconds(5);

// Sleeps until `fd` is readable or `limit` passes; whether it is readable.
bool await_readable(int fd, std::chrono::nanoseconds limit) {
    if (limit < std::chrono::nanoseconds::zero()) limit = std::chrono::nanoseconds::zero();
    pollfd pfd{fd, POLLIN, 0};
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(limit);
    timespec timeout{static_cast<time_t>(seconds.count()),
                     static_cast<long>((limit - seconds).count())};
    int ready = ::ppoll(&pfd, 1, &timeout, nullptr);
    if (ready < 0 && errno != EINTR) throw system_error("cannot wait for process output");
    return ready > 0;
}

// An anonymous file holding `data`, positioned at its start: a child's stdin.
UniqueFd stdin_file(const std::string& data) {
    UniqueFd fd(::memfd_create("rkt-stdin", MFD_CLOEXEC));
    if (!fd) throw system_error("cannot create a file for a child's input");
    io::write_all(fd.get(), data, "a child's input");
    if (::lseek(fd.get(), 0, SEEK_SET) < 0) throw system_error("cannot rewind a child's input");
    return fd;
}

// In the forked child: set up stdio and the directory, then exec. Any failure's errno goes to
// `exec_report` (whose close-on-exec end tells the parent when exec succeeded).
[[noreturn]] void exec_child(const SpawnOptions& opts, std::vector<char*>& argv,
                             std::vector<char*>& env, int input_fd, int output_fd,
                             int exec_report) {
    if (opts.new_process_group) ::setpgid(0, 0);
    if (input_fd >= 0) {
        ::dup2(input_fd, STDIN_FILENO);
    } else if (opts.null_stdin) {
        UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (devnull) ::dup2(devnull.get(), STDIN_FILENO);
    }
    if (output_fd >= 0) {
        ::dup2(output_fd, STDOUT_FILENO);
        if (opts.capture_stderr) ::dup2(output_fd, STDERR_FILENO);
    }
    if (!opts.cwd || ::chdir(opts.cwd->c_str()) == 0) {
        if (opts.env)
            ::execvpe(argv[0], argv.data(), env.data());
        else
            ::execvp(argv[0], argv.data());
    }
    int e = errno;
    io::try_write_all(exec_report, {reinterpret_cast<const char*>(&e), sizeof e});
    ::_exit(127);
}

}  // namespace

ChildProcess ChildProcess::spawn(const std::vector<std::string>& argv, const SpawnOptions& opts) {
    if (argv.empty()) throw Error("cannot run an empty command");
    std::vector<char*> cargv;
    cargv.reserve(argv.size() + 1);
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    if (opts.env) {
        cenv.reserve(opts.env->size() + 1);
        for (const auto& e : *opts.env) cenv.push_back(const_cast<char*>(e.c_str()));
        cenv.push_back(nullptr);
    }
    UniqueFd input;
    if (opts.stdin_data) input = stdin_file(*opts.stdin_data);
    std::optional<io::Pipe> output;
    if (opts.capture_stdout) output = io::make_pipe();
    io::Pipe exec_report = io::make_pipe();

    pid_t pid = ::fork();
    if (pid < 0) throw system_error("cannot fork");
    if (pid == 0)
        exec_child(opts, cargv, cenv, input.get(), output ? output->write.get() : -1,
                   exec_report.write.get());

    ChildProcess child;  // from here on, an error kills and reaps the child
    child.pid_ = pid;
    // The child makes its group before exec, and exec_report below waits for that.
    child.kill_group_ = opts.new_process_group && opts.kill_process_group;
    child.output_limit_ = opts.output_limit;
    exec_report.write.reset();
    input.reset();
    if (output) {
        output->write.reset();  // so reading the output ends when the child's copies close
        child.out_fd_ = std::move(output->read);
    }
    child.pidfd_ = open_pidfd(pid);
    int child_errno = 0;
    ssize_t got = io::read_some(exec_report.read.get(), &child_errno, sizeof child_errno);
    if (got == sizeof child_errno) {
        child.wait();
        throw system_error("cannot run " + argv[0], child_errno);
    }
    return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      kill_group_(other.kill_group_),
      output_limit_(other.output_limit_),
      output_truncated_(other.output_truncated_),
      pidfd_(std::move(other.pidfd_)),
      out_fd_(std::move(other.out_fd_)),
      output_(std::move(other.output_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
        kill_and_reap();
        pid_ = std::exchange(other.pid_, -1);
        kill_group_ = other.kill_group_;
        output_limit_ = other.output_limit_;
        output_truncated_ = other.output_truncated_;
        pidfd_ = std::move(other.pidfd_);
        out_fd_ = std::move(other.out_fd_);
        output_ = std::move(other.output_);
    }
    return *this;
}

ChildProcess::~ChildProcess() {
    kill_and_reap();
}

void ChildProcess::kill_and_reap() noexcept {
    if (pid_ <= 0) return;
    if (kill_group_) ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status;
    io::retry_eintr([&] { return ::waitpid(pid_, &status, 0); });
    pid_ = -1;
    pidfd_.reset();
}

void ChildProcess::require_child(const char* what) const {
    if (pid_ <= 0)
        throw Error(std::string("cannot ") + what + ": no child process (already waited for)");
}

void ChildProcess::kill_rest_of_group() noexcept {
    // Only while the leader is unreaped: until then its pid, and so the group id, is not reused.
    if (kill_group_ && pid_ > 0) ::kill(-pid_, SIGKILL);
}

void ChildProcess::append_output(const char* data, size_t size) {
    if (output_limit_ != 0) {
        size_t room = output_limit_ > output_.size() ? output_limit_ - output_.size() : 0;
        if (size > room) {
            output_truncated_ = true;
            size = room;
        }
    }
    output_.append(data, size);
}

void ChildProcess::drain_output() {
    if (!out_fd_) return;
    std::array<char, 65536> buf{};
    for (;;) {
        ssize_t n = io::read_some(out_fd_.get(), buf.data(), buf.size());
        if (n <= 0) break;
        append_output(buf.data(), static_cast<size_t>(n));
    }
    out_fd_.reset();
}

void ChildProcess::drain_output_until(std::chrono::steady_clock::time_point deadline) {
    std::array<char, 65536> buf{};
    while (out_fd_) {
        // What the ended child wrote is readable at once; only a grandchild can make us wait.
        if (!await_readable(out_fd_.get(), deadline - std::chrono::steady_clock::now())) {
            out_fd_.reset();
            break;
        }
        ssize_t n = io::read_some(out_fd_.get(), buf.data(), buf.size());
        if (n > 0) append_output(buf.data(), static_cast<size_t>(n));
        if (n == 0 || (n < 0 && errno != EAGAIN)) out_fd_.reset();
    }
}

int ChildProcess::wait() {
    require_child("wait for a process");
    if (kill_group_) {
        // The group's other members may hold the output open: end them once the child ends.
        for (;;) {
            if (auto code = try_reap()) {
                drain_output();
                return *code;
            }
            await_event(std::chrono::hours(1));
        }
    }
    drain_output();
    int status = 0;
    if (io::retry_eintr([&] { return ::waitpid(pid_, &status, 0); }) < 0)
        throw system_error("cannot wait for process");
    pid_ = -1;
    pidfd_.reset();
    return exit_code_from_wait_status(status);
}

std::optional<int> ChildProcess::try_reap() {
    if (kill_group_) {
        siginfo_t info{};
        if (io::retry_eintr([&] {
                return ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
            }) < 0)
            throw system_error("cannot wait for process");
        if (info.si_pid == 0) return std::nullopt;
        kill_rest_of_group();
    }
    int status = 0;
    pid_t r = io::retry_eintr([&] { return ::waitpid(pid_, &status, WNOHANG); });
    if (r < 0) throw system_error("cannot wait for process");
    if (r == 0) return std::nullopt;
    pid_ = -1;
    pidfd_.reset();
    return exit_code_from_wait_status(status);
}

void ChildProcess::await_event(std::chrono::nanoseconds limit) {
    if (!pidfd_) limit = std::min<std::chrono::nanoseconds>(limit, kPollWithoutPidfd);
    std::array<pollfd, 2> fds{};
    nfds_t count = 0;
    if (pidfd_) fds[count++] = {pidfd_.get(), POLLIN, 0};
    int out_index = -1;
    if (out_fd_) {
        out_index = static_cast<int>(count);
        fds[count++] = {out_fd_.get(), POLLIN, 0};
    }
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(limit);
    timespec timeout{static_cast<time_t>(seconds.count()),
                     static_cast<long>((limit - seconds).count())};
    int ready = ::ppoll(fds.data(), count, &timeout, nullptr);
    if (ready < 0 && errno != EINTR) throw system_error("cannot wait for process");
    // Keep the pipe drained so a chatty child cannot block on a full pipe.
    if (ready > 0 && out_index >= 0 && fds[static_cast<size_t>(out_index)].revents != 0) {
        std::array<char, 65536> buf{};
        ssize_t n = io::read_some(out_fd_.get(), buf.data(), buf.size());
        if (n > 0) append_output(buf.data(), static_cast<size_t>(n));
        if (n == 0) out_fd_.reset();
    }
}

std::optional<int> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
    require_child("wait for a process");
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (auto code = try_reap()) {
            drain_output_until(deadline);
            return code;
        }
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return std::nullopt;
        await_event(deadline - now);
    }
}

void ChildProcess::kill(int sig) {
    if (pid_ > 0) ::kill(kill_group_ ? -pid_ : pid_, sig);
}

pid_t ChildProcess::release() {
    pidfd_.reset();
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
