// The per-thread sandbox, tried in a forked child so the test process keeps its privileges.
#include "vmm/sandbox.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

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
