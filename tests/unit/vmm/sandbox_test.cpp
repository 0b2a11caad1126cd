// The per-thread sandbox, tried in a forked child so the test process keeps its privileges.
#include "vmm/sandbox.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "common/isolation.h"

using namespace rkt::vmm;

namespace {

// Runs `body` in a child after sandboxing it for `role`; returns the wait status.
template <typename Fn>
int in_sandboxed_child(ThreadRole role, SandboxOptions options, Fn body) {
    pid_t pid = ::fork();
    if (pid == 0) {
        try {
            sandbox_current_thread(role, options);
        } catch (...) {
            ::_exit(100);
        }
        ::_exit(body());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

}  // namespace

TEST(Sandbox, AllowedCallsWork) {
    int status = in_sandboxed_child(ThreadRole::kVcpu, {}, [] {
        const char msg[] = "";
        return ::write(STDERR_FILENO, msg, 0) == 0 ? 0 : 1;
    });
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Sandbox, ForbiddenCallKillsTheProcess) {
    int status = in_sandboxed_child(ThreadRole::kVcpu, {}, [] {
        int fd = ::open("/etc/hostname", O_RDONLY);  // a vCPU thread never opens files
        return fd >= 0 ? 0 : 2;
    });
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(Sandbox, IoctlIsLimitedToKvmRequests) {
    int status = in_sandboxed_child(ThreadRole::kVcpu, {}, [] {
        int size = 0;
        return ::ioctl(STDIN_FILENO, FIONREAD, &size) == 0 ? 0 : 3;
    });
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGSYS);
    status = in_sandboxed_child(ThreadRole::kEvents, {}, [] {
        int size = 0;
        return ::ioctl(STDIN_FILENO, FIONREAD, &size) == 0 ? 0 : 3;
    });
    ASSERT_TRUE(WIFSIGNALED(status));
}

// virtio-net's status write sets its tap's offloads from a vCPU thread.
TEST(Sandbox, VcpuThreadsMaySetTapOffloads) {
    int status = in_sandboxed_child(ThreadRole::kVcpu, {}, [] {
        // Not a tap: the kernel answers (ENOTTY), the filter does not kill.
        (void)::ioctl(STDIN_FILENO, TUNSETOFFLOAD, 0u);
        return 0;
    });
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Sandbox, MemoryMayGrowButNotBecomeExecutable) {
    int status = in_sandboxed_child(ThreadRole::kEvents, {}, [] {
        void* p = ::mmap(nullptr, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return 6;
        // What malloc does to grow an arena.
        return ::mprotect(p, 1 << 16, PROT_READ | PROT_WRITE) == 0 ? 0 : 7;
    });
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    status = in_sandboxed_child(ThreadRole::kVcpu, {}, [] {
        void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return ::mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0 ? 0 : 8;
    });
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(Sandbox, EventThreadMayDoDiskIo) {
    int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    int status = in_sandboxed_child(ThreadRole::kEvents, {}, [fd] {
        char buf[16];
        return ::pread(fd, buf, sizeof buf, 0) > 0 ? 0 : 4;
    });
    ::close(fd);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Sandbox, OffMeansNoFilter) {
    SandboxOptions off{SeccompMode::kOff, false};
    int status = in_sandboxed_child(ThreadRole::kVcpu, off, [] {
        int fd = ::open("/etc/hostname", O_RDONLY);
        return fd >= 0 ? 0 : 2;
    });
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Sandbox, CapabilitiesAreDropped) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to have capabilities to drop";
    SandboxOptions caps_only{SeccompMode::kOff, true};
    int status = in_sandboxed_child(ThreadRole::kVcpu, caps_only, [] {
        cap_t caps = cap_get_proc();
        cap_flag_value_t v = CAP_SET;
        cap_get_flag(caps, CAP_SYS_ADMIN, CAP_EFFECTIVE, &v);
        cap_free(caps);
        bool bounding = ::prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN) == 1;
        return v == CAP_CLEAR && !bounding ? 0 : 5;
    });
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Sandbox, AllowListsDifferByRole) {
    auto vcpu = allowed_syscalls(ThreadRole::kVcpu);
    auto events = allowed_syscalls(ThreadRole::kEvents);
    auto has = [](const std::vector<std::string>& v, const char* s) {
        return std::find(v.begin(), v.end(), s) != v.end();
    };
    EXPECT_TRUE(has(vcpu, "ioctl"));
    EXPECT_FALSE(has(vcpu, "pread64"));
    EXPECT_TRUE(has(events, "pread64"));
    EXPECT_FALSE(has(events, "ioctl"));
    EXPECT_FALSE(has(events, "openat"));
    EXPECT_FALSE(has(vcpu, "execve"));
}

// ---- rkt's deny filter for a whole VMM process ----

namespace {

// Runs `body` in a child after loading process_deny_filter() (with no_new_privs); returns the
// wait status. The filter is built in the parent, as the VMM process's starter does.
template <typename Fn>
int in_filtered_child(Fn body) {
    std::vector<sock_filter> program = process_deny_filter();
    pid_t pid = ::fork();
    if (pid == 0) {
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(100);
        if (load_process_filter(program) != 0) ::_exit(101);
        ::_exit(body());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

// 0 when `call` fails with `err`; otherwise a distinct code.
int expect_errno(long result, int err) {
    if (result != -1) return 10;
    return errno == err ? 0 : 11;
}

class ProcessFilter : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("rkt-vmm-filter-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        file_ = (dir_ / "file").string();
        int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ASSERT_GE(fd, 0);
        ::close(fd);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
    std::string file_;
};

}  // namespace

TEST_F(ProcessFilter, RefusesSetuidAndSetgidModes) {
    std::string file = file_, created = (dir_ / "created").string();
    int status = in_filtered_child([&] {
        if (int r = expect_errno(::chmod(file.c_str(), 04755), EPERM)) return r;
        if (int r = expect_errno(::chmod(file.c_str(), 02755), EPERM)) return 20 + r;
        if (int r = expect_errno(::fchmodat(AT_FDCWD, file.c_str(), 06755, 0), EPERM))
            return 30 + r;
        int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        if (int r = expect_errno(::fchmod(fd, 04711), EPERM)) return 40 + r;
        // The upper half of the 64-bit argument does not hide the bit from the filter.
        if (int r = expect_errno(::syscall(SYS_chmod, file.c_str(), (1UL << 32) | 04755), EPERM))
            return 50 + r;
        if (int r = expect_errno(
                ::syscall(SYS_openat, AT_FDCWD, created.c_str(), O_CREAT | O_WRONLY, 04755), EPERM))
            return 60 + r;
        if (int r = expect_errno(::syscall(SYS_creat, created.c_str(), 02755), EPERM))
            return 70 + r;
        // Ordinary modes still work.
        if (::chmod(file.c_str(), 0750) != 0 || ::fchmod(fd, 0640) != 0) return 80;
        int made = ::open(created.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (made < 0) return 81;
        return 0;
    });
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
    struct stat st {};
    ASSERT_EQ(::stat(file_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(ProcessFilter, RefusesDeviceNodesButNotFifos) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root, which could otherwise make device nodes";
    std::string chr = (dir_ / "null").string(), blk = (dir_ / "loop").string(),
                fifo = (dir_ / "fifo").string();
    int status = in_filtered_child([&] {
        if (int r = expect_errno(::mknod(chr.c_str(), S_IFCHR | 0666, makedev(1, 3)), EPERM))
            return r;
        if (int r = expect_errno(::mknodat(AT_FDCWD, blk.c_str(), S_IFBLK | 0600, makedev(7, 0)),
                                 EPERM))
            return 20 + r;
        if (int r = expect_errno(::mknod(fifo.c_str(), S_IFIFO | 04644, 0), EPERM)) return 30 + r;
        return ::mknod(fifo.c_str(), S_IFIFO | 0644, 0) == 0 ? 0 : 40;
    });
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_FALSE(std::filesystem::exists(chr));
    EXPECT_TRUE(std::filesystem::exists(fifo));
}

TEST_F(ProcessFilter, RefusesWhatNoVmmNeeds) {
    int status = in_filtered_child([] {
        if (int r = expect_errno(::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr), EPERM)) return r;
        if (int r = expect_errno(::unshare(CLONE_NEWNS), EPERM)) return 20 + r;
        if (int r = expect_errno(::mount("none", "/tmp", "tmpfs", 0, nullptr), EPERM))
            return 30 + r;
        // A new user namespace through clone, flags as the kernel sees them.
        if (int r = expect_errno(::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0), EPERM))
            return 40 + r;
        // Arguments in memory: ENOSYS, so libc falls back to what the filter checks.
        if (int r = expect_errno(::syscall(SYS_clone3, nullptr, 0), ENOSYS)) return 50 + r;
        if (int r = expect_errno(::syscall(452, AT_FDCWD, "/", 04755, 0), ENOSYS)) return 60 + r;
        // The terminal: no typing into it (the request's upper bits do not matter).
        char c = 'x';
        if (int r = expect_errno(::syscall(SYS_ioctl, 0, (1UL << 32) | TIOCSTI, &c), EPERM))
            return 70 + r;
        if (int r = expect_errno(::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0), EPERM)) return 80 + r;
        if (int r = expect_errno(::syscall(SYS_io_uring_setup, 1, nullptr), EPERM)) return 90 + r;
        // A thread (what every VMM needs) still starts.
        std::thread t([] {});
        t.join();
        return 0;
    });
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(ProcessFilter, RefusesRktsDefaultDenyList) {
    // Calls of @rkt/default-blacklist that the VMM's own list would not name: NUMA placement
    // of other processes' pages, and the old file system queries.
    int status = in_filtered_child([] {
        int mode = 0;
        if (int r =
                expect_errno(::syscall(SYS_get_mempolicy, &mode, nullptr, 0, nullptr, 0), EPERM))
            return r;
        if (int r = expect_errno(::syscall(SYS_set_mempolicy, 0, nullptr, 0), EPERM)) return 20 + r;
        if (int r =
                expect_errno(::syscall(SYS_move_pages, 0, 0, nullptr, nullptr, nullptr, 0), EPERM))
            return 30 + r;
        if (int r = expect_errno(::syscall(SYS_sysfs, 3), EPERM)) return 40 + r;
        return 0;
    });
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ProcessFilterList, NamesTheDeniedCalls) {
    auto denied = denied_syscalls();
    for (const char* name : {"ptrace", "mount", "setns", "bpf", "io_uring_setup", "kexec_load"})
        EXPECT_NE(std::find(denied.begin(), denied.end(), name), denied.end()) << name;
    EXPECT_EQ(std::find(denied.begin(), denied.end(), "execve"), denied.end());
    // rkt's deny-list for apps is all in it.
    for (const auto& name : rkt::isolation::syscall_group("@rkt/default-blacklist", {}))
        EXPECT_NE(std::find(denied.begin(), denied.end(), name), denied.end()) << name;
}

namespace {

// An i386 getpid (int $0x80, number 20) in a child, with or without rkt's filter.
int i386_getpid_in_child(bool filtered) {
    std::vector<sock_filter> program = process_deny_filter();
    pid_t pid = ::fork();
    if (pid == 0) {
        if (filtered &&
            (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || load_process_filter(program) != 0))
            ::_exit(100);
        long ret = 20;
        asm volatile("int $0x80" : "+a"(ret) : : "memory");
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

}  // namespace

TEST(ProcessFilterArch, OtherArchitecturesKillTheProcess) {
    // The i386 entry would get around a deny-list written for x86-64 system call numbers.
    // Without one, int $0x80 faults (a sanitizer turns the SIGSEGV into an exit status of its own).
    int plain = i386_getpid_in_child(false);
    if (!WIFEXITED(plain) || WEXITSTATUS(plain) != 0)
        GTEST_SKIP() << "this kernel has no i386 system call entry";
    int status = i386_getpid_in_child(true);
    ASSERT_TRUE(WIFSIGNALED(status)) << status;
    EXPECT_EQ(WTERMSIG(status), SIGSYS);
}
