#include "guest-init/app_process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "common/app_environment.h"
#include "common/error.h"
#include "common/io.h"
#include "common/safe_path.h"
#include "guest-init/app_isolation.h"
#include "guest-init/etc_files.h"
#include "guest-init/exec_rules.h"
#include "guest-init/mount_util.h"

namespace rkt::guest_init {

namespace {

constexpr size_t kMaxReport = 4096;

// ---- child side ----

// The child tells the parent why it could not exec: exit code (4 bytes) + reason.
[[noreturn]] void report_and_exit(int report_fd, int exit_code, const std::string& reason) {
    std::string msg(reinterpret_cast<const char*>(&exit_code), sizeof exit_code);
    msg += reason.substr(0, kMaxReport - sizeof exit_code);
    [[maybe_unused]] auto n = ::write(report_fd, msg.data(), msg.size());
    ::_exit(exit_code);
}

void reset_signals() {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);  // fails harmlessly for some
}

void make_node(int dir_fd, const char* name, unsigned major, unsigned minor) {
    if (::mknodat(dir_fd, name, S_IFCHR | 0666, makedev(major, minor)) < 0)
        throw system_error(std::string("cannot create /dev/") + name);
}

void make_symlink(int dir_fd, const char* target, const char* name) {
    if (::symlinkat(target, dir_fd, name) < 0)
        throw system_error(std::string("cannot create /dev/") + name);
}

// A fresh, small /dev: the usual character devices, a private devpts and a /dev/shm.
void mount_dev(int root_fd) {
    {
        UniqueFd target = safe_path::make_dirs_beneath(root_fd, "/dev");
        mount_checked("dev", safe_path::fd_path(target.get()), "tmpfs", MS_NOSUID | MS_NOEXEC,
                      "mode=0755,size=65536", "/dev");
    }
    // Reopen: the first fd names the directory under the new mount.
    UniqueFd dev = safe_path::open_beneath(root_fd, "/dev", O_PATH | O_DIRECTORY);
    make_node(dev.get(), "null", 1, 3);
    make_node(dev.get(), "zero", 1, 5);
    make_node(dev.get(), "full", 1, 7);
    make_node(dev.get(), "random", 1, 8);
    make_node(dev.get(), "urandom", 1, 9);
    make_node(dev.get(), "tty", 5, 0);
    make_symlink(dev.get(), "/proc/self/fd", "fd");
    make_symlink(dev.get(), "/proc/self/fd/0", "stdin");
    make_symlink(dev.get(), "/proc/self/fd/1", "stdout");
    make_symlink(dev.get(), "/proc/self/fd/2", "stderr");
    make_symlink(dev.get(), "pts/ptmx", "ptmx");
    UniqueFd pts = safe_path::make_dirs_beneath(root_fd, "/dev/pts");
    mount_checked("devpts", safe_path::fd_path(pts.get()), "devpts", MS_NOSUID | MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=0620", "/dev/pts");
    UniqueFd shm = safe_path::make_dirs_beneath(root_fd, "/dev/shm");
    mount_checked("shm", safe_path::fd_path(shm.get()), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777",
                  "/dev/shm");
}

void mount_app_filesystems(int root_fd, const guest::GuestApp& app, const guest::PodSpec& pod) {
    constexpr unsigned long kSafe = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    {
        UniqueFd proc = safe_path::make_dirs_beneath(root_fd, "/proc");
        mount_checked("proc", safe_path::fd_path(proc.get()), "proc", kSafe, "", "/proc");
    }
    {
        UniqueFd sys = safe_path::make_dirs_beneath(root_fd, "/sys");
        mount_checked("sysfs", safe_path::fd_path(sys.get()), "sysfs", kSafe | MS_RDONLY, "",
                      "/sys");
    }
    mount_dev(root_fd);
    {
        UniqueFd tmp = safe_path::make_dirs_beneath(root_fd, "/tmp");
        mount_checked("tmp", safe_path::fd_path(tmp.get()), "tmpfs", MS_NOSUID | MS_NODEV,
                      "mode=1777", "/tmp");
    }
    for (const auto& m : app.mounts) {
        bool read_only = m.read_only;
        for (const auto& v : pod.volumes)
            if (v.name == m.volume && v.read_only) read_only = true;
        {
            UniqueFd target = safe_path::make_dirs_beneath(root_fd, m.path);
            mount_checked(volume_dir(m.volume), safe_path::fd_path(target.get()), nullptr,
                          MS_BIND | MS_REC, "", "volume " + m.volume + " on " + m.path);
        }
        if (read_only) {
            UniqueFd target = safe_path::open_beneath(root_fd, m.path, O_PATH | O_DIRECTORY);
            mount_checked("", safe_path::fd_path(target.get()), nullptr,
                          MS_BIND | MS_REMOUNT | MS_RDONLY, "",
                          "volume " + m.volume + " read-only on " + m.path);
        }
    }
}

void pivot_into(const std::string& rootfs) {
    check_sys(::chdir(rootfs.c_str()), "cannot enter " + rootfs);
    // pivot_root(".", "."): the old root ends up on top of the new one and is detached at once.
    check_sys(static_cast<int>(::syscall(SYS_pivot_root, ".", ".")), "pivot_root");
    check_sys(::umount2(".", MNT_DETACH), "cannot detach the guest's root");
    check_sys(::chdir("/"), "chdir /");
}

// Replaces a file of the app's /etc (after pivot_root: every path is inside the app's root).
void write_etc_file(const char* path, const std::string& content) {
    struct stat st {};
    if (::lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) ::unlink(path);
    UniqueFd fd(::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd) throw system_error(std::string("cannot write ") + path);
    io::write_all(fd.get(), content, path);
}

void write_etc_files(const guest::PodSpec& pod) {
    if (::mkdir("/etc", 0755) < 0 && errno != EEXIST) throw system_error("cannot create /etc");
    write_etc_file("/etc/hostname", hostname_file(pod));
    struct stat st {};
    if (auto hosts = hosts_file(pod, ::lstat("/etc/hosts", &st) == 0))
        write_etc_file("/etc/hosts", *hosts);
    if (auto resolv = resolv_conf(pod)) write_etc_file("/etc/resolv.conf", *resolv);
}

void make_working_dir(const std::string& dir) {
    std::string path;
    for (size_t pos = 1; pos <= dir.size(); ++pos) {
        if (pos == dir.size() || dir[pos] == '/') {
            path = dir.substr(0, pos);
            if (::mkdir(path.c_str(), 0755) < 0 && errno != EEXIST)
                throw system_error("cannot create the working directory " + dir);
        }
    }
}

// execve with a shell's PATH search; reports why nothing could be executed.
[[noreturn]] void exec_program(const std::vector<std::string>& args,
                               const std::vector<std::string>& env, int report_fd) {
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    envp.reserve(env.size() + 1);
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    const std::string* path_entry = find_env(env, "PATH");
    std::string_view path =
        path_entry ? std::string_view(*path_entry).substr(5) : rkt::kDefaultAppPath;
    auto candidates = exec_candidates(args[0], path);
    std::vector<int> errors;
    std::vector<bool> exists;
    for (const auto& c : candidates) {
        ::execve(c.c_str(), argv.data(), envp.data());
        int err = errno;
        errors.push_back(err);
        exists.push_back(::access(c.c_str(), F_OK) == 0);
        // Like execvp: keep searching past files that are missing or not executable.
        if (err != ENOENT && err != ENOTDIR && err != EACCES) break;
    }
    ExecFailure f = describe_exec_failure(args[0], candidates, errors, exists);
    report_and_exit(report_fd, f.exit_code, f.reason);
}

[[noreturn]] void report_failure(int report_fd, const isolation::Failure& failure) {
    char buf[512];
    std::string reason = "could not start: ";
    reason.append(buf, isolation::format_failure(failure, buf, sizeof buf));
    report_and_exit(report_fd, kExitCannotExecute, reason);
}

// First of all in a child: into the app's cgroup, so that everything it does from here on counts
// against the app's limits and meets its device allow-list; and out of guest-init's
// oom_score_adj (the app's own, if it has one, comes with its isolation).
void enter_app_cgroup(const AppCgroup& cgroup, int report_fd) {
    if (!cgroup.join())
        report_and_exit(
            report_fd, kExitCannotExecute,
            std::string("could not start: cannot join its cgroup: ") + std::strerror(errno));
    UniqueFd adj(::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
    if (!adj || !io::try_write_all(adj.get(), "0"))
        report_and_exit(report_fd, kExitCannotExecute,
                        std::string("could not start: cannot reset its oom_score_adj: ") +
                            std::strerror(errno));
}

[[noreturn]] void child_main(const guest::GuestApp& app, const guest::PodSpec& pod,
                             const AppPaths& paths, const isolation::PreparedIsolation& isolation,
                             const AppCgroup& cgroup, int out_fd, int err_fd, int report_fd) {
    try {
        enter_app_cgroup(cgroup, report_fd);
        reset_signals();
        ::setsid();
        ::umask(0);
        int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0 || ::dup2(null_fd, STDIN_FILENO) < 0 || ::dup2(out_fd, STDOUT_FILENO) < 0 ||
            ::dup2(err_fd, STDERR_FILENO) < 0)
            throw system_error("cannot set up stdin/stdout/stderr");
        check_sys(::unshare(CLONE_NEWNS), "cannot create a mount namespace");
        check_sys(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr),
                  "cannot make the mounts private");
        {
            UniqueFd root(::open(paths.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
            if (!root) throw system_error("cannot open " + paths.rootfs);
            mount_app_filesystems(root.get(), app, pod);
        }
        pivot_into(paths.rootfs);
        write_etc_files(pod);
        if (auto f = isolation.restrict_paths()) report_failure(report_fd, f);
        make_working_dir(app.working_dir);
        ::umask(022);
        // The user, groups, capabilities, no_new_privs and the seccomp filter; the working
        // directory is entered as the app's user. Nothing but exec comes after it.
        if (auto f = isolation.drop_privileges(app.working_dir.c_str()))
            report_failure(report_fd, f);
        exec_program(app.exec, app.env, report_fd);
    } catch (const std::exception& e) {
        report_and_exit(report_fd, kExitCannotExecute, std::string("could not start: ") + e.what());
    }
}

// An Exec command: the app's mount namespace (its root, /proc, /dev, volumes and masked paths
// are already there), then the app's credentials and isolation, as for the app itself.
[[noreturn]] void exec_child_main(const guest::GuestApp& app,
                                  const std::vector<std::string>& command,
                                  const isolation::PreparedIsolation& isolation,
                                  const AppCgroup& cgroup, int mount_ns_fd, int root_fd, int out_fd,
                                  int err_fd, int report_fd) {
    try {
        enter_app_cgroup(cgroup, report_fd);
        reset_signals();
        ::setsid();
        int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0 || ::dup2(null_fd, STDIN_FILENO) < 0 || ::dup2(out_fd, STDOUT_FILENO) < 0 ||
            ::dup2(err_fd, STDERR_FILENO) < 0)
            throw system_error("cannot set up stdin/stdout/stderr");
        check_sys(::setns(mount_ns_fd, CLONE_NEWNS), "cannot join the app's mount namespace");
        // The app pivoted into its root; enter the same root explicitly, whatever setns chose.
        check_sys(::fchdir(root_fd), "cannot enter the app's root");
        check_sys(::chroot("."), "cannot enter the app's root");
        check_sys(::chdir("/"), "chdir /");
        ::umask(022);
        if (auto f = isolation.drop_privileges(app.working_dir.c_str()))
            report_failure(report_fd, f);
        exec_program(command, app.env, report_fd);
    } catch (const std::exception& e) {
        report_and_exit(report_fd, kExitCannotExecute, std::string("could not start: ") + e.what());
    }
}

// ---- parent side ----

// The report pipe closes on a successful exec (CLOEXEC) or carries the reason it failed.
LaunchResult collect_launch(pid_t pid, io::Pipe& out, io::Pipe& err, io::Pipe& report) {
    out.write.reset();
    err.write.reset();
    report.write.reset();
    std::string msg;
    char buf[kMaxReport];
    for (;;) {
        ssize_t n = io::read_some(report.read.get(), buf, sizeof buf);
        if (n <= 0) break;
        msg.append(buf, static_cast<size_t>(n));
        if (msg.size() >= kMaxReport) break;
    }
    if (msg.size() >= sizeof(int)) {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        LaunchFailure f;
        std::memcpy(&f.exit_code, msg.data(), sizeof(int));
        f.reason = msg.substr(sizeof(int));
        return f;
    }
    ::fcntl(out.read.get(), F_SETFL, O_NONBLOCK);
    ::fcntl(err.read.get(), F_SETFL, O_NONBLOCK);
    return LaunchedApp{pid, std::move(out.read), std::move(err.read)};
}

}  // namespace

LaunchResult launch_app(const guest::GuestApp& app, const guest::PodSpec& pod,
                        const AppPaths& paths, const AppCgroup& cgroup) {
    isolation::PreparedIsolation isolation = prepare_app_isolation(app, paths.rootfs);
    io::Pipe out = io::make_pipe(), err = io::make_pipe(), report = io::make_pipe();
    pid_t pid = ::fork();
    if (pid < 0) throw system_error("cannot fork for app " + app.name);
    if (pid == 0) {
        report.read.reset();
        child_main(app, pod, paths, isolation, cgroup, out.write.get(), err.write.get(),
                   report.write.get());
    }
    return collect_launch(pid, out, err, report);
}

LaunchResult launch_exec(const guest::GuestApp& app, const AppPaths& paths, const AppCgroup& cgroup,
                         pid_t app_pid, const std::vector<std::string>& command) {
    isolation::PreparedIsolation isolation = prepare_app_isolation(app, paths.rootfs);
    std::string proc = "/proc/" + std::to_string(app_pid);
    UniqueFd mount_ns(::open((proc + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd root(::open((proc + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!mount_ns || !root)
        return LaunchFailure{kExitCannotExecute,
                             "could not start: app " + app.name + " is not running"};
    io::Pipe out = io::make_pipe(), err = io::make_pipe(), report = io::make_pipe();
    pid_t pid = ::fork();
    if (pid < 0) throw system_error("cannot fork for a command in app " + app.name);
    if (pid == 0) {
        report.read.reset();
        exec_child_main(app, command, isolation, cgroup, mount_ns.get(), root.get(),
                        out.write.get(), err.write.get(), report.write.get());
    }
    return collect_launch(pid, out, err, report);
}

}  // namespace rkt::guest_init
