// The VMM's jail and process (vmm/jail.h, vmm/vmm_process.h) for real: namespaces, pivot_root,
// a VMM user, capabilities, rlimits, no_new_privs and the seccomp filter, checked from inside
// the jailed child (its exit code names the first check that failed) and from outside.
#include "vmm/jail.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <filesystem>
#include <set>
#include <string>

#include "common/error.h"
#include "common/fs.h"
#include "vmm/vmm_process.h"
#include "vmm/vmm_user.h"

namespace rkt::vmm {
namespace {

namespace stdfs = std::filesystem;

std::set<std::string> entries(const char* dir) {
    std::set<std::string> names;
    if (DIR* d = ::opendir(dir)) {
        while (dirent* e = ::readdir(d))
            if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
                names.insert(e->d_name);
        ::closedir(d);
    }
    return names;
}

// Waits (with a deadline) for the process to end; its exit code, or -1.
int wait_exit(VmmProcess& p) {
    pollfd pfd{p.exit_fd(), POLLIN, 0};
    if (::poll(&pfd, 1, 60'000) != 1) return -1;
    return p.try_wait().value_or(-1);
}

class JailTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, mounts, other users)";
        dir_ = stdfs::temp_directory_path() /
               ("rkt-jail-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        stdfs::remove_all(dir_);
        stdfs::create_directories(dir_ / "jail");
        stdfs::create_directories(dir_ / "share");
        ::chmod((dir_ / "share").c_str(), 0777);
        fs::write_file(dir_ / "kernel", "hello", 0644);
        user_ = VmmUser::acquire(dir_ / "ids");
        spec_.mount_point = dir_ / "jail";
        spec_.uid = user_.uid();
        spec_.gid = user_.gid();
        spec_.binds = {{(dir_ / "kernel").string(), "/vm/kernel"},
                       {(dir_ / "share").string(), "/vm/share-0", true, true, true}};
        spec_.dev = true;
        spec_.proc = true;
    }
    void TearDown() override {
        if (!dir_.empty()) stdfs::remove_all(dir_);
    }

    stdfs::path dir_;
    VmmUser user_;
    JailSpec spec_;
};

TEST_F(JailTest, TheBodyRunsConfined) {
    PreparedJail jail = PreparedJail::prepare(spec_);
    int handed[2];
    ASSERT_EQ(::pipe2(handed, O_CLOEXEC), 0);
    UniqueFd keep_r(handed[0]), keep_w(handed[1]);
    uid_t uid = spec_.uid;
    gid_t gid = spec_.gid;
    bool prepared_as_root = false;
    VmmProcess p = VmmProcess::run(
        jail, {{keep_w.get(), 7}}, {}, [&] { prepared_as_root = ::geteuid() == 0; },
        [&]() -> int {
            if (!prepared_as_root) return 2;
            if (::getuid() != uid || ::geteuid() != uid || ::getgid() != gid) return 3;
            if (::getgroups(0, nullptr) != 0) return 4;
            if (::getpid() != 1) return 5;  // PID 1 of a namespace of its own
            __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
            __user_cap_data_struct d[2]{};
            if (::syscall(SYS_capget, &h, d) != 0) return 6;
            for (auto& c : d)
                if (c.effective || c.permitted || c.inheritable) return 7;
            if (::prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0) return 8;
            if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return 9;
            if (::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2) return 10;
            if (entries("/") != std::set<std::string>{"vm", "dev", "proc"}) return 11;
            if (entries("/dev") != std::set<std::string>{"null", "urandom"}) return 12;
            if (::access("/etc/passwd", F_OK) == 0) return 13;  // nothing of the host
            char buf[8] = {};
            int k = ::open("/vm/kernel", O_RDONLY | O_CLOEXEC);
            if (k < 0 || ::read(k, buf, 5) != 5 || std::string(buf) != "hello") return 14;
            if (::open("/vm/kernel", O_WRONLY | O_CLOEXEC) >= 0) return 15;
            if (::mkdir("/new", 0755) == 0 || errno != EROFS) return 16;
            int f = ::open("/vm/share-0/made", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (f < 0) return 17;
            struct statvfs sv {};
            if (::statvfs("/vm/share-0", &sv) != 0) return 18;
            if (!(sv.f_flag & ST_NOSUID) || !(sv.f_flag & ST_NODEV) || !(sv.f_flag & ST_NOEXEC))
                return 19;
            int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
            if (null < 0 || ::write(null, "x", 1) != 1) return 20;
            rlimit core{};
            if (::getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_max != 0) return 21;
            char host[64] = {};
            if (::gethostname(host, sizeof host) != 0 || std::string(host) != "rkt-vmm") return 22;
            if (::write(7, "k", 1) != 1) return 23;  // the descriptor handed over
            // Nothing else of the parent's: the report pipe (8) is gone, the lifeline (9) is
            // the last; what the body opened is below 7.
            if (::fcntl(8, F_GETFD) >= 0) return 27;
            for (int fd = 0; fd < 256; ++fd) {  // e.g. the test's own VMM id lock
                char link[512] = {};
                std::string self = "/proc/self/fd/" + std::to_string(fd);
                if (::readlink(self.c_str(), link, sizeof link - 1) > 0 &&
                    std::string(link).find("/ids/") != std::string::npos)
                    return 28;
            }
            for (int fd = 10; fd < 256; ++fd)
                if (::fcntl(fd, F_GETFD) >= 0) return 24;
            if (::mount("none", "/vm", "tmpfs", 0, nullptr) == 0) return 25;
            if (entries("/proc/self/fd").empty()) return 26;
            return 0;
        });
    keep_w.reset();
    EXPECT_EQ(wait_exit(p), 0);
    char c = 0;
    EXPECT_EQ(::read(keep_r.get(), &c, 1), 1);
    // The host saw none of it: the mount point is still an empty directory.
    EXPECT_TRUE(stdfs::is_empty(dir_ / "jail"));
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / "share" / "made").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, spec_.uid);
}

TEST_F(JailTest, AFailedPrepareIsTheCallersError) {
    PreparedJail jail = PreparedJail::prepare(spec_);
    try {
        VmmProcess::run(
            jail, {}, {}, [] { throw Error("no kernel here"); }, [] { return 0; });
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no kernel here"), std::string::npos) << e.what();
    }
}

TEST_F(JailTest, ExecKeepsOnlyTheCapabilitiesAsked) {
    spec_.system_files = true;
    spec_.capabilities = {CAP_CHOWN, CAP_FOWNER};
    PreparedJail jail = PreparedJail::prepare(spec_);
    int out[2];
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    UniqueFd out_r(out[0]), out_w(out[1]);
    VmmProcess p = VmmProcess::exec(
        jail, {}, {out_w.get(), -1},
        {"/bin/sh", "-c", "grep -E '^(Cap|NoNewPrivs)' /proc/self/status"}, {"A=b"});
    out_w.reset();
    EXPECT_EQ(wait_exit(p), 0);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out_r.get(), buf, sizeof buf)) > 0) text.append(buf, n);
    // CAP_CHOWN (0) and CAP_FOWNER (3): effective, permitted, inheritable, ambient, bounding.
    for (const char* line :
         {"CapEff:\t0000000000000009", "CapPrm:\t0000000000000009", "CapAmb:\t0000000000000009",
          "CapBnd:\t0000000000000009", "NoNewPrivs:\t1"})
        EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
}

TEST_F(JailTest, AFailedExecIsReported) {
    PreparedJail jail = PreparedJail::prepare(spec_);
    try {
        VmmProcess::exec(jail, {}, {}, {"/vm/no-such-vmm"}, {});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot execute"), std::string::npos) << e.what();
    }
}

TEST_F(JailTest, TheVmmDiesWithItsStarter) {
    PreparedJail jail = PreparedJail::prepare(spec_);
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    pid_t starter = ::fork();
    if (starter == 0) {
        // Start a VMM that would run forever, say its pid, and die.
        ::close(report[0]);
        try {
            VmmProcess p = VmmProcess::run(
                jail, {}, {}, [] {},
                [] {
                    for (;;) ::pause();
                    return 0;
                });
            pid_t pid = p.pid();
            [[maybe_unused]] auto w = ::write(report[1], &pid, sizeof pid);
        } catch (...) {
        }
        ::_exit(0);  // without running p's destructor
    }
    ::close(report[1]);
    pid_t vmm = 0;
    ASSERT_EQ(::read(report[0], &vmm, sizeof vmm), static_cast<ssize_t>(sizeof vmm));
    ::close(report[0]);
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, vmm, 0)));
    ::waitpid(starter, nullptr, 0);
    if (pidfd) {
        pollfd pfd{pidfd.get(), POLLIN, 0};
        EXPECT_EQ(::poll(&pfd, 1, 30'000), 1) << "the VMM outlived the process that started it";
    }
}

TEST_F(JailTest, PrepareRefusesWhatCannotBeJailed) {
    JailSpec root = spec_;
    root.uid = 0;
    EXPECT_THROW(PreparedJail::prepare(root), Error);
    JailSpec climbing = spec_;
    climbing.binds.push_back({(dir_ / "kernel").string(), "/vm/../etc/x"});
    EXPECT_THROW(PreparedJail::prepare(climbing), Error);
    JailSpec twice = spec_;
    twice.binds.push_back({(dir_ / "kernel").string(), "/vm/kernel"});
    EXPECT_THROW(PreparedJail::prepare(twice), Error);
    // A file only root may read: the VMM's user could not open it.
    fs::write_file(dir_ / "secret", "x", 0600);
    JailSpec unreadable = spec_;
    unreadable.binds.push_back({(dir_ / "secret").string(), "/vm/secret"});
    EXPECT_THROW(PreparedJail::prepare(unreadable), Error);
    unreadable.capabilities = {CAP_DAC_OVERRIDE};
    EXPECT_NO_THROW(PreparedJail::prepare(unreadable));
}

TEST(VmmUserTest, EachHolderGetsItsOwnId) {
    stdfs::path dir = stdfs::temp_directory_path() / ("rkt-vmm-ids-" + std::to_string(::getpid()));
    stdfs::remove_all(dir);
    {
        VmmUser a = VmmUser::acquire(dir);
        VmmUser b = VmmUser::acquire(dir);
        EXPECT_NE(a.uid(), b.uid());
        EXPECT_EQ(a.uid(), a.gid());
        EXPECT_TRUE(is_vmm_id(a.uid()) && is_vmm_id(b.uid()));
        EXPECT_EQ(a.uid(), kFirstVmmId);  // the lowest free slot
        uint32_t freed = a.slot();
        a = VmmUser();  // released
        VmmUser c = VmmUser::acquire(dir);
        EXPECT_EQ(c.slot(), freed);
    }
    EXPECT_FALSE(is_vmm_id(0));
    EXPECT_FALSE(is_vmm_id(kFirstVmmId - 1));
    EXPECT_FALSE(is_vmm_id(kFirstVmmId + kVmmIdSlots));
    // The --private-users ranges end below the VMM ids.
    EXPECT_GT(kFirstVmmId, (0x7FFFu << 16) + 65535u);
    stdfs::remove_all(dir);
}

}  // namespace
}  // namespace rkt::vmm
