#include "stage1-nspawn/user_namespace.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"

namespace rkt::nspawn {

namespace {

void write_map(pid_t pid, const char* file, const IdShift& ids) {
    std::string path = "/proc/" + std::to_string(pid) + "/" + file;
    std::string line = "0 " + std::to_string(ids.shift) + " " + std::to_string(ids.count) + "\n";
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
        throw system_error("cannot write " + path + " (\"" + strings::trim(line) + "\")");
}

}  // namespace

const char* user_namespaces_unavailable() {
    auto text = fs::read_file_if_exists("/proc/sys/user/max_user_namespaces");
    if (text && strings::trim(*text) == "0")
        return "user namespaces are disabled on this host (/proc/sys/user/max_user_namespaces is 0)";
    if (::access("/proc/self/ns/user", F_OK) != 0) return "this kernel has no user namespaces";
    return nullptr;
}

PodUserNamespace PodUserNamespace::create(const IdShift& ids) {
    if (const char* why = user_namespaces_unavailable())
        throw Error(std::string("--private-users: ") + why);
    int ready[2], release[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) throw system_error("cannot create a pipe");
    UniqueFd ready_r(ready[0]), ready_w(ready[1]);
    if (::pipe2(release, O_CLOEXEC) != 0) throw system_error("cannot create a pipe");
    UniqueFd release_r(release[0]), release_w(release[1]);

    pid_t helper = ::fork();
    if (helper < 0) throw system_error("cannot fork");
    if (helper == 0) {
        // Only system calls here: says 'U' once the namespaces exist and waits to be released.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        char c = ::unshare(CLONE_NEWUSER | CLONE_NEWPID) == 0 ? 'U' : 'E';
        if (::write(ready[1], &c, 1) != 1) ::_exit(1);
        ssize_t n;
        do {
            n = ::read(release[0], &c, 1);
        } while (n < 0 && errno == EINTR);
        ::_exit(0);
    }
    ready_w.reset();
    release_r.reset();
    // The helper goes away however this ends.
    struct Reap {
        pid_t pid;
        UniqueFd* release;
        ~Reap() {
            release->reset();
            int status;
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
    } reap{helper, &release_w};

    char c = 0;
    ssize_t n;
    do {
        n = ::read(ready_r.get(), &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1 || c != 'U')
        throw Error("cannot create the pod's user namespace (unshare(CLONE_NEWUSER|CLONE_NEWPID) failed)");
    write_map(helper, "uid_map", ids);
    // setgroups stays allowed: `run` is privileged, and apps need their supplementary groups.
    write_map(helper, "gid_map", ids);
    PodUserNamespace ns;
    ns.ids_ = ids;
    std::string proc = "/proc/" + std::to_string(helper) + "/ns/";
    ns.user_ = fs::open_file(proc + "user", O_RDONLY);
    ns.pid_ = fs::open_file(proc + "pid_for_children", O_RDONLY);
    return ns;
}

void become_namespace_root(int user_ns_fd) {
    if (::setns(user_ns_fd, CLONE_NEWUSER) != 0) throw system_error("cannot join the pod's user namespace");
    if (::setgroups(0, nullptr) != 0) throw system_error("cannot clear the supplementary groups");
    if (::setresgid(0, 0, 0) != 0) throw system_error("cannot become the pod's root group");
    if (::setresuid(0, 0, 0) != 0) throw system_error("cannot become the pod's root");
}

}  // namespace rkt::nspawn
