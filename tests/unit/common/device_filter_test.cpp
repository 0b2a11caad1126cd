// The device allow list, as cgroup v1 lines and as a cgroup v2 BPF program, and both applied for
// real on this machine's hierarchies (v1 `devices`, and the cgroup2 mount): a process in the
// cgroup can use /dev/null and the pseudo terminals, and gets EPERM for loop-control, a loop
// block device, and for making any node outside the list.
#include "common/device_filter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "common/fs.h"
#include "common/io.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace stdfs = std::filesystem;
namespace df = rkt::device_filter;

namespace {

TEST(DeviceFilter, TheAllowListAsCgroupV1Lines) {
    std::vector<std::string> expected = {"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                                         "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rw",  "c 136:* rw"};
    EXPECT_EQ(df::v1_rules(), expected);
    EXPECT_STREQ(df::kV1DenyAll, "a");
    ASSERT_EQ(df::allow_list().size(), expected.size());
    for (const auto& rule : df::allow_list()) {
        EXPECT_EQ(rule.type, 'c') << rule.what << ": no block device is allowed";
        EXPECT_NE(rule.major, 10) << rule.what << ": no misc device (loop-control, tun, ...)";
    }
}

TEST(DeviceFilter, TheProgramEndsInDenyAndEveryJumpStaysInside) {
    auto prog = df::v2_program();
    ASSERT_GE(prog.size(), 2u);
    EXPECT_EQ(prog.back().code, BPF_JMP | BPF_EXIT);
    EXPECT_EQ(prog[prog.size() - 2].imm, 0);  // r0 = 0: what no rule allows is denied
    for (size_t i = 0; i < prog.size(); ++i)
        if (prog[i].code == (BPF_JMP | BPF_JNE | BPF_K)) {
            EXPECT_GT(prog[i].off, 0) << i;
            EXPECT_LT(i + 1 + static_cast<size_t>(prog[i].off), prog.size()) << i;
        }
}

// Runs the device checks in a child that first joins the cgroup through `join_file`; returns
// what went wrong (empty: everything as the list says).
std::string check_in_cgroup(const stdfs::path& join_file, const stdfs::path& scratch) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return "pipe failed";
    rkt::UniqueFd report_r(pipe_fds[0]), report_w(pipe_fds[1]);
    pid_t pid = ::fork();
    if (pid < 0) return "fork failed";
    if (pid == 0) {
        std::string out;
        auto expect = [&](const std::string& what, int result, int wanted_errno) {
            int err = result < 0 ? errno : 0;
            if (err != wanted_errno)
                out += what + ": got " + (err ? std::strerror(err) : "success") + ", wanted " +
                       (wanted_errno ? std::strerror(wanted_errno) : "success") + "\n";
        };
        {
            rkt::UniqueFd join(::open(join_file.c_str(), O_WRONLY | O_CLOEXEC));
            if (!join || ::write(join.get(), "0", 1) != 1) {
                out = "cannot join the cgroup: " + std::string(std::strerror(errno));
                rkt::io::try_write_all(report_w.get(), out);
                ::_exit(1);
            }
        }
        auto open_close = [](const char* path, int flags) {
            int fd = ::open(path, flags | O_CLOEXEC | O_NOCTTY);
            if (fd >= 0) ::close(fd);
            return fd < 0 ? -1 : 0;
        };
        expect("open /dev/null", open_close("/dev/null", O_RDWR), 0);
        expect("open /dev/urandom", open_close("/dev/urandom", O_RDONLY), 0);
        if (::access("/dev/loop-control", F_OK) == 0)
            expect("open /dev/loop-control", open_close("/dev/loop-control", O_RDWR), EPERM);
        if (::access("/dev/loop0", F_OK) == 0)
            expect("open /dev/loop0", open_close("/dev/loop0", O_RDONLY), EPERM);
        int ptmx = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        expect("open /dev/ptmx", ptmx, 0);
        if (ptmx >= 0) {
            ::unlockpt(ptmx);
            const char* name = ::ptsname(ptmx);
            expect(std::string("open ") + (name ? name : "the pts"),
                   name ? open_close(name, O_RDWR) : -1, 0);
            ::close(ptmx);
        }
        auto make = [&](const char* name, mode_t type, unsigned major, unsigned minor) {
            return ::mknod((scratch / name).c_str(), type | 0600, makedev(major, minor));
        };
        expect("mknod c 10:237", make("loop-control", S_IFCHR, 10, 237), EPERM);
        expect("mknod b 7:0", make("loop0", S_IFBLK, 7, 0), EPERM);
        expect("mknod c 5:2", make("ptmx", S_IFCHR, 5, 2), EPERM);
        expect("mknod c 1:3", make("null", S_IFCHR, 1, 3), 0);
        expect("open the made c 1:3", open_close((scratch / "null").c_str(), O_RDWR), 0);
        rkt::io::try_write_all(report_w.get(), out);
        ::_exit(0);
    }
    report_w.reset();
    std::string report;
    char buf[4096];
    ssize_t n;
    while ((n = rkt::io::read_some(report_r.get(), buf, sizeof buf)) > 0)
        report.append(buf, static_cast<size_t>(n));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status)) report += "the checking child was killed";
    return report;
}

// A fresh cgroup in a real hierarchy, removed afterwards; a scratch directory for made nodes on
// a file system that allows devices (so the cgroup, not nodev, is what refuses).
class RealCgroup : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "creating cgroups and device nodes needs root";
        char tmpl[] = "/var/tmp/rkt-device-filter-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        scratch_ = tmpl;
    }
    void TearDown() override {
        if (!cgroup_.empty()) ::rmdir(cgroup_.c_str());
        if (!scratch_.empty()) stdfs::remove_all(scratch_);
    }
    // The mount point of a hierarchy from /proc/self/mountinfo: cgroup2, or the v1 hierarchy
    // of `controller`.
    static std::optional<stdfs::path> mount_of(const std::string& fstype,
                                               const std::string& controller = "") {
        for (const auto& line :
             rkt::strings::split(rkt::fs::read_file("/proc/self/mountinfo"), '\n')) {
            auto fields = rkt::strings::split(line, ' ');
            auto dash = std::find(fields.begin(), fields.end(), "-");
            if (fields.size() < 5 || fields.end() - dash < 4 || *(dash + 1) != fstype) continue;
            auto options = rkt::strings::split(*(dash + 3), ',');
            if (!controller.empty() &&
                std::find(options.begin(), options.end(), controller) == options.end())
                continue;
            return stdfs::path(fields[4]);
        }
        return std::nullopt;
    }
    void make_cgroup(const stdfs::path& hierarchy) {
        cgroup_ = hierarchy / ("rkt-device-filter-test-" + std::to_string(::getpid()));
        ASSERT_EQ(::mkdir(cgroup_.c_str(), 0755), 0) << std::strerror(errno);
    }
    stdfs::path cgroup_, scratch_;
};

TEST_F(RealCgroup, V1DevicesControllerDeniesWhatTheListDoesNot) {
    auto hierarchy = mount_of("cgroup", "devices");
    if (!hierarchy) GTEST_SKIP() << "no cgroup v1 devices hierarchy is mounted here";
    make_cgroup(*hierarchy);
    rkt::UniqueFd dir = rkt::fs::open_dir(cgroup_);
    df::apply_v1(dir.get());
    std::string list = rkt::fs::read_file(cgroup_ / "devices.list");
    for (const auto& line : df::v1_rules()) EXPECT_NE(list.find(line), std::string::npos) << list;
    EXPECT_EQ(list.find("a *:*"), std::string::npos) << list;
    EXPECT_EQ(check_in_cgroup(cgroup_ / "tasks", scratch_), "");
}

TEST_F(RealCgroup, V2ProgramDeniesWhatTheListDoesNot) {
    auto hierarchy = mount_of("cgroup2");
    if (!hierarchy) GTEST_SKIP() << "no cgroup2 hierarchy is mounted here";
    make_cgroup(*hierarchy);
    rkt::UniqueFd dir = rkt::fs::open_dir(cgroup_);
    df::attach_v2(dir.get());
    EXPECT_EQ(check_in_cgroup(cgroup_ / "cgroup.procs", scratch_), "");
}

}  // namespace
