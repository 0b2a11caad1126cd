// A VMM in a process of its own, jailed (vmm/jail.h) before it runs any guest code: QEMU (exec)
// or the built-in VMM (a function run in the forked child). It starts in a new PID namespace
// (it is PID 1 there and sees no other process), in its own process group (a terminal's Ctrl-C
// reaches the stage1, which stops the pod gracefully, not the VMM), and can never outlive the
// stage1 (parent-death signal, checked after it is set). Killed and reaped on every exit path.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "vmm/jail.h"

namespace rkt::vmm {

// A descriptor handed to the VMM: `parent_fd` here becomes `child_fd` there (3 and up).
struct VmmFd {
    int parent_fd = -1;
    int child_fd = -1;
};

struct VmmStdio {
    int stdout_fd = -1;  // -1: /dev/null
    int stderr_fd = -1;
};

class VmmProcess {
public:
    // Execs argv (argv[0]: a path inside the jail) with exactly `env`. Every descriptor but
    // `fds` and stdio is closed. Throws rkt::Error when the jail cannot be made or the exec
    // fails (with the step and errno).
    static VmmProcess exec(const PreparedJail& jail, const std::vector<VmmFd>& fds, VmmStdio stdio,
                           const std::vector<std::string>& argv,
                           const std::vector<std::string>& env);

    // Forks: in the child, `prepare` runs in the new namespaces, still privileged and before the
    // jail's root replaces the host's (it opens what the VMM needs; an exception from it is
    // this call's Error); then the child is jailed and `body` runs, its result the exit code.
    // The signal mask and dispositions are the caller's. The caller must be single-threaded
    // (the child runs arbitrary code after fork).
    static VmmProcess run(const PreparedJail& jail, const std::vector<VmmFd>& fds, VmmStdio stdio,
                          const std::function<void()>& prepare, const std::function<int()>& body);

    VmmProcess() = default;
    VmmProcess(VmmProcess&& other) noexcept;
    VmmProcess& operator=(VmmProcess&& other) noexcept;
    VmmProcess(const VmmProcess&) = delete;
    VmmProcess& operator=(const VmmProcess&) = delete;
    ~VmmProcess();

    pid_t pid() const { return pid_; }
    // Readable (poll/epoll) once the process has exited.
    int exit_fd() const { return pidfd_.get(); }
    // SIGKILL, once; harmless after the exit.
    void kill();
    // Reaps the process if it has exited; its exit code as a shell reports it (128 + signal).
    std::optional<int> try_wait();
    // Kills (if still running) and reaps; returns the exit code.
    int kill_and_wait();

private:
    static VmmProcess adopt(pid_t pid, UniqueFd report, UniqueFd lifeline, const std::string& what);

    pid_t pid_ = -1;
    UniqueFd pidfd_;
    std::optional<int> status_;
};

// True when this process has one thread (VmmProcess::run needs it).
bool single_threaded();

}  // namespace rkt::vmm
