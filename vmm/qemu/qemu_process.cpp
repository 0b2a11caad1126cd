#include "vmm/qemu/qemu_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "common/error.h"
#include "common/process.h"

namespace rkt::vmm::qemu {

namespace {

int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

[[noreturn]] void child_fail(int report_fd, const char* what) {
    int e = errno;
    char msg[256];
    int n = std::snprintf(msg, sizeof msg, "%s: %s", what, std::strerror(e));
    if (n > 0) {
        [[maybe_unused]] auto w = ::write(report_fd, msg, static_cast<size_t>(n));
    }
    ::_exit(127);
}

}  // namespace

QemuProcess QemuProcess::start(const std::vector<std::string>& argv, int inherit_fd, int log_fd) {
    if (argv.empty()) throw Error("no QEMU command");
    auto binary = find_executable(argv[0]);
    if (!binary)
        throw Error(argv[0] +
                    " is not installed (Debian package qemu-system-x86); the kvm "
                    "stage1's QEMU engine needs it");
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);

    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) throw system_error("cannot create a pipe");
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(report[0]);
        ::close(report[1]);
        throw system_error("cannot start QEMU");
    }
    if (pid == 0) {
        ::close(report[0]);
        // QEMU dies with the stage1, whatever kills the stage1. The check after setting it
        // closes the window where the parent died before.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(report[1], "prctl");
        if (::getppid() != parent) ::_exit(127);
        ::setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::signal(sig, SIG_DFL);
        int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull < 0 || ::dup2(devnull, STDIN_FILENO) < 0) child_fail(report[1], "stdin");
        if (::dup2(log_fd, STDOUT_FILENO) < 0 || ::dup2(log_fd, STDERR_FILENO) < 0)
            child_fail(report[1], "stdout");
        int keep = inherit_fd;
        if (keep >= 0) {
            int flags = ::fcntl(keep, F_GETFD);
            if (flags < 0 || ::fcntl(keep, F_SETFD, flags & ~FD_CLOEXEC) < 0)
                child_fail(report[1], "protocol channel");
        }
        // Inherited descriptors (the pod lock, the stage1's own) must not be held by QEMU. The
        // report pipe is CLOEXEC: it closes at execv.
        int report_fd = report[1];
        DIR* d = ::opendir("/proc/self/fd");
        if (d) {
            int own = ::dirfd(d);
            while (dirent* e = ::readdir(d)) {
                if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
                int fd = std::atoi(e->d_name);
                if (fd > 2 && fd != keep && fd != own && fd != report_fd) ::close(fd);
            }
            ::closedir(d);
        }
        ::execv(binary->c_str(), cargv.data());
        child_fail(report_fd, "cannot execute QEMU");
    }
    ::close(report[1]);
    UniqueFd report_r(report[0]);
    QemuProcess p;
    p.pid_ = pid;
    p.pidfd_.reset(pidfd_open(pid));
    char msg[256];
    ssize_t n;
    do {
        n = ::read(report_r.get(), msg, sizeof msg);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        p.kill_and_wait();
        throw Error("cannot start QEMU (" + *binary +
                    "): " + std::string(msg, static_cast<size_t>(n)));
    }
    if (!p.pidfd_) {
        int e = errno;
        p.kill_and_wait();
        throw system_error("cannot watch the QEMU process (pidfd_open)", e);
    }
    return p;
}

QemuProcess::QemuProcess(QemuProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      status_(std::exchange(other.status_, std::nullopt)) {}

QemuProcess& QemuProcess::operator=(QemuProcess&& other) noexcept {
    if (this != &other) {
        if (pid_ > 0 && !status_) kill_and_wait();
        pid_ = std::exchange(other.pid_, -1);
        pidfd_ = std::move(other.pidfd_);
        status_ = std::exchange(other.status_, std::nullopt);
    }
    return *this;
}

QemuProcess::~QemuProcess() {
    if (pid_ > 0 && !status_) kill_and_wait();
}

void QemuProcess::kill() {
    if (pid_ > 0 && !status_) ::kill(pid_, SIGKILL);
}

std::optional<int> QemuProcess::try_wait() {
    if (status_ || pid_ <= 0) return status_;
    int status = 0;
    pid_t r;
    do {
        r = ::waitpid(pid_, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid_) status_ = exit_code_from_wait_status(status);
    return status_;
}

int QemuProcess::kill_and_wait() {
    if (status_ || pid_ <= 0) return status_.value_or(0);
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
        if (errno != EINTR) return 0;
    }
    status_ = exit_code_from_wait_status(status);
    return *status_;
}

}  // namespace rkt::vmm::qemu
