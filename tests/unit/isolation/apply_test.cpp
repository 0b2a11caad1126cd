// Applying a policy in a forked child and looking at the result from inside: /proc/self/status
// (CapBnd, CapEff, Seccomp, NoNewPrivs, ...), denied system calls, masked paths.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <sstream>

#include "common/error.h"
#include "common/isolation.h"

using namespace rkt;
using namespace rkt::isolation;
using nlohmann::json;

namespace {

struct ChildResult {
    int status = 0;
    std::string output;
    bool exited_with(int code) const { return WIFEXITED(status) && WEXITSTATUS(status) == code; }
};

// Runs `body` in a forked child with a pipe as `out`; the child exits with what body returns.
ChildResult run_in_child(const std::function<int(int out)>& body) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        ::_exit(body(fds[1]));
    }
    ::close(fds[1]);
    ChildResult r;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    ::waitpid(pid, &r.status, 0);
    return r;
}

void put(int fd, const char* s) {
    [[maybe_unused]] auto n = ::write(fd, s, std::strlen(s));
}

// Copies /proc/self/status to `out` (read and write are in every allow-list used here).
void dump_status(int out) {
    int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    char buf[8192];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) [[maybe_unused]] auto w = ::write(out, buf, n);
    ::close(fd);
}

int report_failure(int out, const Failure& f) {
    char buf[256];
    format_failure(f, buf, sizeof buf);
    put(out, "FAILED: ");
    put(out, buf);
    return 99;
}

std::map<std::string, std::string> status_fields(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        out[line.substr(0, colon)] = value;
    }
    return out;
}

uint64_t hex(const std::string& s) {
    return std::stoull(s, nullptr, 16);
}

Isolator iso(std::string_view name, json value) {
    return {std::string(name), std::move(value)};
}

class Apply : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "applying a policy needs root";
    }
    // Prepares before fork (as the stage1s do), applies in the child, then dumps its status.
    ChildResult status_after(const Policy& policy, const Identity& identity) {
        PreparedIsolation prepared = PreparedIsolation::prepare(policy, identity);
        return run_in_child([&](int out) {
            if (Failure f = prepared.drop_privileges("/")) return report_failure(out, f);
            dump_status(out);
            return 0;
        });
    }
};

}  // namespace

TEST_F(Apply, DefaultPolicyAsRoot) {
    ChildResult r = status_after(policy_from_isolators({}, {}), Identity{});
    ASSERT_TRUE(r.exited_with(0)) << r.output;
    auto st = status_fields(r.output);
    uint64_t defaults = CapabilitySet::defaults().mask();
    EXPECT_EQ(hex(st["CapBnd"]), defaults);
    EXPECT_EQ(hex(st["CapEff"]), defaults);
    EXPECT_EQ(hex(st["CapPrm"]), defaults);
    EXPECT_EQ(hex(st["CapInh"]), 0u);
    EXPECT_EQ(hex(st["CapAmb"]), 0u);
    EXPECT_EQ(st["NoNewPrivs"], "1");
    EXPECT_EQ(st["Seccomp"], "2");
}

TEST_F(Apply, DefaultFilterDeniesWithEperm) {
    PreparedIsolation prepared = PreparedIsolation::prepare(policy_from_isolators({}, {}), {});
    ChildResult r = run_in_child([&](int out) {
        if (Failure f = prepared.drop_privileges(nullptr)) return report_failure(out, f);
        // Not in Docker's list: unshare, mount, kexec_load. clone3 says ENOSYS so libc falls
        // back to clone; clone with namespace flags is refused.
        if (::syscall(SYS_unshare, 0) != -1 || errno != EPERM) return 1;
        if (::syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, nullptr) != -1 || errno != EPERM)
            return 2;
        if (::syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) return 3;
        long pid = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0) ::_exit(0);
        if (pid != -1 || errno != EPERM) return 4;
        // And the ordinary things work.
        if (::syscall(SYS_getpid) <= 0) return 5;
        pid = ::fork();
        if (pid == 0) ::_exit(0);
        if (pid < 0) return 6;
        return 0;
    });
    EXPECT_TRUE(r.exited_with(0)) << "step " << WEXITSTATUS(r.status) << " " << r.output;
}

TEST_F(Apply, RemoveSetWithErrno) {
    Policy policy = policy_from_isolators(
        {iso(kSeccompRemoveIsolator, {{"set", {"getcwd"}}, {"errno", "EXFULL"}})}, {});
    PreparedIsolation prepared = PreparedIsolation::prepare(policy, {});
    ChildResult r = run_in_child([&](int out) {
        if (Failure f = prepared.drop_privileges(nullptr)) return report_failure(out, f);
        char buf[256];
        if (::syscall(SYS_getcwd, buf, sizeof buf) != -1) return 1;
        if (errno != EXFULL) return 2;
        // Everything else is allowed: unshare is refused by the kernel (no CAP_SYS_ADMIN),
        // not by the filter.
        if (::syscall(SYS_unshare, CLONE_NEWUTS) != -1 || errno != EPERM) return 3;
        return 0;
    });
    EXPECT_TRUE(r.exited_with(0)) << "step " << WEXITSTATUS(r.status) << " " << r.output;
}

TEST_F(Apply, ErrnoZeroKillsWithSigsys) {
    SeccompPolicy kill;
    kill.mode = SeccompMode::kRemove;
    kill.syscalls = {"getcwd"};
    kill.errno_code = 0;
    Policy policy;
    policy.seccomp = kill;
    PreparedIsolation prepared = PreparedIsolation::prepare(policy, {});
    ChildResult r = run_in_child([&](int out) {
        if (Failure f = prepared.drop_privileges(nullptr)) return report_failure(out, f);
        char buf[256];
        ::syscall(SYS_getcwd, buf, sizeof buf);
        return 0;
    });
    ASSERT_TRUE(WIFSIGNALED(r.status)) << r.output;
    EXPECT_EQ(WTERMSIG(r.status), SIGSYS);
}

TEST_F(Apply, RetainSetAsRootAndBothCapabilitySets) {
    Policy policy =
        policy_from_isolators({iso(kCapsRetainIsolator, {{"set", {"CAP_NET_ADMIN"}}})}, {});
    ChildResult r = status_after(policy, Identity{});
    ASSERT_TRUE(r.exited_with(0)) << r.output;
    auto st = status_fields(r.output);
    EXPECT_EQ(hex(st["CapBnd"]), uint64_t{1} << CAP_NET_ADMIN);
    EXPECT_EQ(hex(st["CapEff"]), uint64_t{1} << CAP_NET_ADMIN);

    CapabilitySet expected = CapabilitySet::defaults();
    expected.remove(CAP_CHOWN);
    ChildResult removed = status_after(
        policy_from_isolators({iso(kCapsRemoveIsolator, {{"set", {"CAP_CHOWN"}}})}, {}),
        Identity{});
    ASSERT_TRUE(removed.exited_with(0)) << removed.output;
    EXPECT_EQ(hex(status_fields(removed.output)["CapBnd"]), expected.mask());
}

TEST_F(Apply, NonRootUserGetsNoCapabilitiesByDefault) {
    Identity id;
    id.uid = 65534;
    id.gid = 65533;
    id.supplementary_gids = {10, 20};
    ChildResult r = status_after(policy_from_isolators({}, {}), id);
    ASSERT_TRUE(r.exited_with(0)) << r.output;
    auto st = status_fields(r.output);
    EXPECT_EQ(st["Uid"], "65534\t65534\t65534\t65534");
    EXPECT_EQ(st["Gid"], "65533\t65533\t65533\t65533");
    EXPECT_EQ(st["Groups"].substr(0, 5), "10 20");
    EXPECT_EQ(hex(st["CapBnd"]), CapabilitySet::defaults().mask());
    EXPECT_EQ(hex(st["CapEff"]), 0u);
    EXPECT_EQ(hex(st["CapPrm"]), 0u);
    EXPECT_EQ(hex(st["CapAmb"]), 0u);
}

TEST_F(Apply, NonRootUserKeepsNamedCapabilitiesAcrossExec) {
    if (!std::filesystem::exists("/bin/cat")) GTEST_SKIP() << "no /bin/cat";
    Identity id;
    id.uid = 65534;
    id.gid = 65534;
    Policy policy = policy_from_isolators(
        {iso(kCapsRetainIsolator, {{"set", {"CAP_NET_RAW", "CAP_NET_BIND_SERVICE"}}})}, {});
    PreparedIsolation prepared = PreparedIsolation::prepare(policy, id);
    ChildResult r = run_in_child([&](int out) {
        if (Failure f = prepared.drop_privileges("/")) return report_failure(out, f);
        ::dup2(out, STDOUT_FILENO);
        const char* argv[] = {"/bin/cat", "/proc/self/status", nullptr};
        ::execv(argv[0], const_cast<char* const*>(argv));
        return 127;
    });
    ASSERT_TRUE(r.exited_with(0)) << r.output;
    auto st = status_fields(r.output);
    uint64_t wanted = (uint64_t{1} << CAP_NET_RAW) | (uint64_t{1} << CAP_NET_BIND_SERVICE);
    EXPECT_EQ(hex(st["CapAmb"]), wanted);
    EXPECT_EQ(hex(st["CapEff"]), wanted);
    EXPECT_EQ(hex(st["CapBnd"]), wanted);
    EXPECT_EQ(st["NoNewPrivs"], "1");
}

TEST_F(Apply, WithoutNoNewPrivsTheFilterStillLoadsAndCapabilitiesEndRight) {
    Policy policy = policy_from_isolators({iso(kNoNewPrivsIsolator, false)}, {});
    ChildResult r = status_after(policy, Identity{});
    ASSERT_TRUE(r.exited_with(0)) << r.output;
    auto st = status_fields(r.output);
    EXPECT_EQ(st["NoNewPrivs"], "0");
    EXPECT_EQ(st["Seccomp"], "2");
    EXPECT_EQ(hex(st["CapEff"]), CapabilitySet::defaults().mask()) << "CAP_SYS_ADMIN dropped";

    Identity user;
    user.uid = 1000;
    user.gid = 1000;
    ChildResult r2 = status_after(policy, user);
    ASSERT_TRUE(r2.exited_with(0)) << r2.output;
    auto st2 = status_fields(r2.output);
    EXPECT_EQ(st2["Seccomp"], "2");
    EXPECT_EQ(hex(st2["CapEff"]), 0u);
}

TEST_F(Apply, InsecureOptionsLeaveTheProcessAlone) {
    ChildResult r = status_after(
        policy_from_isolators({iso(kNoNewPrivsIsolator, false)},
                              InsecureOptions::from_names({"capabilities", "seccomp"})),
        Identity{});
    ASSERT_TRUE(r.exited_with(0)) << r.output;
    auto st = status_fields(r.output);
    EXPECT_EQ(st["Seccomp"], "0");
    EXPECT_EQ(st["NoNewPrivs"], "0");
    EXPECT_EQ(hex(st["CapBnd"]), CapabilitySet::all().mask() & hex(st["CapBnd"]));
    EXPECT_NE(hex(st["CapBnd"]), CapabilitySet::defaults().mask());
}

TEST_F(Apply, WorkingDirectoryIsEnteredAsTheAppUser) {
    char tmpl[] = "/tmp/rkt-apply-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    ASSERT_EQ(::chmod(tmpl, 0700), 0);
    Identity id;
    id.uid = 4242;
    id.gid = 4242;
    PreparedIsolation prepared = PreparedIsolation::prepare(policy_from_isolators({}, {}), id);
    ChildResult r = run_in_child([&](int out) {
        Failure f = prepared.drop_privileges(tmpl);
        return f ? report_failure(out, f) : 0;
    });
    ::rmdir(tmpl);
    EXPECT_TRUE(r.exited_with(99));
    EXPECT_NE(r.output.find("cannot change to the working directory"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("Permission denied"), std::string::npos) << r.output;
}

TEST_F(Apply, MaskedAndReadOnlyPaths) {
    PreparedIsolation prepared = PreparedIsolation::prepare(policy_from_isolators({}, {}), {});
    ChildResult r = run_in_child([&](int out) {
        // A private mount namespace, so nothing here reaches the rest of the machine.
        if (::unshare(CLONE_NEWNS) != 0) return 1;
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 2;
        if (Failure f = prepared.restrict_paths()) return report_failure(out, f);
        struct stat st {};
        if (::stat("/sys/firmware", &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 07777))
            return 3;
        if (::stat("/sys/firmware/.rkt-masked", &st) == 0) return 4;
        // /proc/kcore exists only on kernels built with it; kallsyms is everywhere.
        if (::stat("/proc/kallsyms", &st) != 0 || (st.st_mode & 07777) != 0) return 5;
        int fd = ::open("/proc/kallsyms", O_RDONLY);
        if (fd >= 0) {
            char c;
            if (::read(fd, &c, 1) != 0) return 6;  // empty
            ::close(fd);
        }
        // Only on kernels with CONFIG_MAGIC_SYSRQ.
        fd = ::open("/proc/sysrq-trigger", O_WRONLY);
        if (fd >= 0 || (errno != EROFS && errno != ENOENT)) return 7;
        fd = ::open("/proc/sys/kernel/hostname", O_WRONLY);
        if (fd >= 0 || errno != EROFS) return 8;
        if (::mkdir("/sys/fs/x", 0755) == 0 || errno != EROFS) return 9;
        return 0;
    });
    EXPECT_TRUE(r.exited_with(0)) << "step " << WEXITSTATUS(r.status) << " " << r.output;
    // Untouched outside the child.
    struct stat st {};
    ASSERT_EQ(::stat("/proc/kallsyms", &st), 0);
    EXPECT_NE(st.st_mode & 07777, 0u);
}

TEST_F(Apply, PathsLiftedByInsecureOption) {
    PreparedIsolation prepared = PreparedIsolation::prepare(
        policy_from_isolators({}, InsecureOptions::from_names({"paths"})), {});
    ChildResult r = run_in_child([&](int out) {
        if (::unshare(CLONE_NEWNS) != 0) return 1;
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 2;
        if (Failure f = prepared.restrict_paths()) return report_failure(out, f);
        struct stat st {};
        if (::stat("/proc/kallsyms", &st) != 0 || (st.st_mode & 07777) == 0) return 3;
        return 0;
    });
    EXPECT_TRUE(r.exited_with(0)) << "step " << WEXITSTATUS(r.status) << " " << r.output;
}
