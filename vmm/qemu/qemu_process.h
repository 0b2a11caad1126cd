// The QEMU process of one pod: started so that it can never outlive the stage1 (parent-death
// signal, checked after it is set), in its own process group (a terminal's Ctrl-C reaches the
// stage1, which stops the pod gracefully, not QEMU), with its output in a log file. Killed and
// reaped on every exit path (RAII).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace rkt::vmm::qemu {

class QemuProcess {
public:
    // Starts argv (argv[0] looked up in PATH). `inherit_fd` stays open in QEMU (the protocol
    // channel); every other descriptor of this process is closed there. QEMU's stdout and
    // stderr go to `log_fd`. Throws rkt::Error when it cannot be started.
    static QemuProcess start(const std::vector<std::string>& argv, int inherit_fd, int log_fd);

    QemuProcess() = default;
    QemuProcess(QemuProcess&& other) noexcept;
    QemuProcess& operator=(QemuProcess&& other) noexcept;
    QemuProcess(const QemuProcess&) = delete;
    QemuProcess& operator=(const QemuProcess&) = delete;
    ~QemuProcess();

    pid_t pid() const { return pid_; }
    // Readable (poll/epoll) once QEMU has exited.
    int exit_fd() const { return pidfd_.get(); }
    // SIGKILL, once; harmless after the exit.
    void kill();
    // Reaps QEMU if it has exited; its exit code as a shell reports it (128 + signal).
    std::optional<int> try_wait();
    // Kills (if still running) and reaps; returns the exit code.
    int kill_and_wait();

private:
    pid_t pid_ = -1;
    UniqueFd pidfd_;
    std::optional<int> status_;
};

}  // namespace rkt::vmm::qemu
