#include "stage1-nspawn/user_namespace.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace rkt::nspawn {

namespace {

void write_map(pid_t pid, const char* file, const IdShift& ids) {
    std::string path = "/proc/" + std::to_string(pid) + "/" + file;
    std::string line = "0 " + std::to_string(ids.shift) + " " + std::to_string(ids.count) + "\n";
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
        throw system_error("cannot write " + path + " (\"" + strings::trim(line) + "\")");
}

[[noreturn]] void child_fail(const char* what) {
    std::string line = std::string("stage1: ") + what + ": " + std::strerror(errno) + "\n";
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
    ::_exit(kErrorExitCode);
}

}  // namespace

const char* user_namespaces_unavailable() {
    auto text = fs::read_file_if_exists("/proc/sys/user/max_user_namespaces");
    if (text && strings::trim(*text) == "0")
        return "user namespaces are disabled on this host (/proc/sys/user/max_user_namespaces is "
               "0)";
    if (::access("/proc/self/ns/user", F_OK) != 0) return "this kernel has no user namespaces";
    return nullptr;
}

pid_t fork_into_user_namespace(const IdShift& ids) {
    io::Pipe maps = io::make_pipe();
    // Both namespaces at once: the kernel makes the user namespace first and the PID namespace
    // belongs to it, so the pod's root can mount the pod's /proc.
    long pid =
        ::syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD, nullptr, nullptr, nullptr, 0);
    if (pid < 0) throw system_error("cannot create the pod's user namespace");
    if (pid == 0) {
        maps.write.reset();
        char c = 0;
        ssize_t n;
        n = io::read_some(maps.read.get(), &c, 1);
        if (n != 1) ::_exit(kErrorExitCode);  // `run` failed and says why
        maps.read.reset();
        if (::setgroups(0, nullptr) != 0) child_fail("cannot clear the supplementary groups");
        if (::setresgid(0, 0, 0) != 0) child_fail("cannot become the pod's root group");
        if (::setresuid(0, 0, 0) != 0) child_fail("cannot become the pod's root");
        return 0;
    }
    maps.read.reset();
    try {
        write_map(static_cast<pid_t>(pid), "uid_map", ids);
        // setgroups stays allowed: `run` is privileged, and apps need their supplementary groups.
        write_map(static_cast<pid_t>(pid), "gid_map", ids);
    } catch (...) {
        ::kill(static_cast<pid_t>(pid), SIGKILL);
        int status;
        io::retry_eintr([&] { return ::waitpid(static_cast<pid_t>(pid), &status, 0); });
        throw;
    }
    if (::write(maps.write.get(), "M", 1) != 1) throw system_error("cannot start the pod init");
    return static_cast<pid_t>(pid);
}

}  // namespace rkt::nspawn
