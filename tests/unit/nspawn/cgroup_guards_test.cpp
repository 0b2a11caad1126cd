// What the pod's cgroups guard besides memory and CPU: the pids limit, the device allow list,
// and the OOM kill count `run` reads to say an app was OOM-killed. On a fake tree, and for real
// on this machine's hierarchies where it needs them.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/fs.h"
#include "stage1-nspawn/cgroups.h"
#include "stage1-nspawn/pod.h"
#include "stage1-nspawn/supervisor.h"

namespace stdfs = std::filesystem;
using namespace rkt;
using namespace rkt::nspawn;

namespace {

const std::string kUuid = "0f746094-3438-42bc-ab37-3cf85f132e60";
const std::string kHybridMountinfo =
    "33 29 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "37 29 0:33 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "38 29 0:34 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n";
const std::string kHybridSelf = "8:pids:/\n5:devices:/\n4:memory:/\n0::/\n";
const std::string kV2Mountinfo =
    "25 21 0:22 / /sys/fs/cgroup rw,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
const std::string kV2Self = "0::/system.slice/rkt.scope\n";

class FakeCgroups : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/rkt-cgroup-guards-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root_ = tmpl;
    }
    void TearDown() override { stdfs::remove_all(root_); }
    void write(const stdfs::path& p, const std::string& text) {
        stdfs::create_directories(p.parent_path());
        std::ofstream(p) << text;
    }
    CgroupLayout plan(const std::string& mountinfo, const std::string& self) {
        CgroupLayout l = PodCgroups::plan(kUuid, mountinfo, self, root_);
        for (const auto& d : l.pod_dirs) stdfs::create_directories(d.parent_path());
        return l;
    }
    stdfs::path root_;
};

}  // namespace

TEST(CgroupPlanDevices, TheV1DevicesHierarchyIsUsed) {
    CgroupLayout l = PodCgroups::plan(kUuid, kHybridMountinfo, kHybridSelf, "/");
    ASSERT_EQ(l.pod_dirs.size(), 3u);
    EXPECT_EQ(l.pod_dirs[2], stdfs::path("/sys/fs/cgroup/devices/rkt-" + kUuid));
}

TEST_F(FakeCgroups, PidsLimitLandsInTheAppsPidsMax) {
    CgroupLayout l = plan(kHybridMountinfo, kHybridSelf);
    stdfs::path pids = l.pod_dirs[1];
    write(pids / "app-web" / "pids.max", "");
    write(pids / "app-side" / "pids.max", "");
    CgroupLimits web, side;
    web.pids_max = 30;
    web.pids_required = true;
    side.pids_max = 4096;  // the default
    PodCgroups::create(l, {"web", "side", "free"}, {web, side, {}}, {});
    EXPECT_EQ(fs::read_file(pids / "app-web" / "pids.max"), "30");
    EXPECT_EQ(fs::read_file(pids / "app-side" / "pids.max"), "4096");
    EXPECT_FALSE(stdfs::exists(pids / "app-free" / "pids.max")) << "no limit: nothing written";
}

TEST_F(FakeCgroups, ANamedPidsLimitWithoutTheControllerIsAnErrorTheDefaultIsNot) {
    CgroupLayout l = plan(kV2Mountinfo, kV2Self);  // no pids.max files: no controller
    CgroupLimits by_default;
    by_default.pids_max = 4096;
    EXPECT_NO_THROW(PodCgroups::create(l, {"web"}, {by_default}, {}));
    CgroupLimits named = by_default;
    named.pids_required = true;
    try {
        PodCgroups::create(l, {"web"}, {named}, {});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot limit the number of tasks of app \"web\""),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(FakeCgroups, OomKillsAreReadFromTheAppsMemoryCgroup) {
    CgroupLayout v1 = plan(kHybridMountinfo, kHybridSelf);
    PodCgroups cg1 = PodCgroups::create(v1, {"web", "side"}, {{}, {}}, {});
    write(v1.pod_dirs[0] / "app-web" / "memory.oom_control",
          "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    write(v1.pod_dirs[0] / "app-side" / "memory.oom_control",
          "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
    EXPECT_EQ(cg1.app_oom_kills("web"), 2u);
    EXPECT_EQ(cg1.app_oom_kills("side"), 0u);
    EXPECT_EQ(cg1.app_oom_kills("ghost"), std::nullopt);

    CgroupLayout v2 = plan(kV2Mountinfo, kV2Self);
    PodCgroups cg2 = PodCgroups::create(v2, {"web"}, {{}}, {});
    write(v2.pod_dirs[0] / "app-web" / "memory.events",
          "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n");
    EXPECT_EQ(cg2.app_oom_kills("web"), 1u);
}

TEST_F(FakeCgroups, DevicesCannotBeLeftUnrestricted) {
    CgroupLayout l = plan(kV2Mountinfo, kV2Self);
    l.v2 = false;  // a v1 layout without a devices hierarchy
    PodCgroups cg = PodCgroups::create(l, {"web"}, {{}}, {});
    try {
        cg.restrict_devices({"web"});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot restrict the devices of app \"web\""),
                  std::string::npos)
            << e.what();
    }
}

TEST(OomMessage, NamesTheAppAndItsLimit) {
    EXPECT_EQ(oom_message("web", 32u << 20),
              "app \"web\" was killed by the OOM killer (memory limit 32 MiB)");
    EXPECT_EQ(oom_message("web", 1000000),
              "app \"web\" was killed by the OOM killer (memory limit 1000000 bytes)");
    EXPECT_NE(oom_message("web", std::nullopt).find("no memory limit of its own"),
              std::string::npos);
}

// On this machine's hierarchies: an app's cgroup refuses loop-control and keeps /dev/null, and
// the pod init (in pod-init) is found by its cgroup wherever it works.
class RealPod : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "creating cgroups needs root";
        uuid_ = "5c0ac1e1-0000-4000-8000-" + std::to_string(200000000000 + ::getpid());
        try {
            cg_ = PodCgroups::create(PodCgroups::plan_for_this_process(uuid_), {"web"}, {{}}, {});
        } catch (const Error& e) {
            GTEST_SKIP() << "cannot create cgroups here: " << e.what();
        }
        made_ = true;
    }
    void TearDown() override {
        if (made_) cg_.remove();
    }
    // Forks a child that joins `files` and runs `fn` (its exit code is the result).
    template <typename Fn>
    int in_child(const std::vector<stdfs::path>& files, Fn fn) {
        std::vector<std::string> paths;
        paths.reserve(files.size());
        for (const auto& f : files) paths.push_back(f.string());
        pid_t pid = ::fork();
        if (pid == 0) {
            if (!join_cgroups(paths)) ::_exit(100);
            ::_exit(fn());
        }
        int status = 0;
        ::waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
    }
    std::string uuid_;
    PodCgroups cg_;
    bool made_ = false;
};

TEST_F(RealPod, AnAppsCgroupDeniesDevicesOutsideTheList) {
    cg_.restrict_devices({"web"});
    auto opens = [](const char* path) {
        int fd = ::open(path, O_RDWR | O_CLOEXEC);
        if (fd >= 0) ::close(fd);
        return fd >= 0 ? 0 : errno;
    };
    EXPECT_EQ(in_child(cg_.app_join_files("web"), [&] { return opens("/dev/null"); }), 0);
    if (::access("/dev/loop-control", F_OK) != 0) GTEST_SKIP() << "no /dev/loop-control here";
    EXPECT_EQ(in_child(cg_.app_join_files("web"), [&] { return opens("/dev/loop-control"); }),
              EPERM);
    // The stage1's own cgroup is not restricted.
    EXPECT_EQ(in_child(cg_.init_join_files(), [&] { return opens("/dev/loop-control"); }), 0);
}

TEST_F(RealPod, ThePodInitIsKnownByItsCgroupNotItsWorkingDirectory) {
    char tmpl[] = "/tmp/rkt-pod-pid-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    stdfs::path base = tmpl, dir = base / uuid_;
    stdfs::create_directories(dir);
    int ready[2] = {-1, -1};
    ASSERT_EQ(::pipe(ready), 0);
    std::vector<std::string> files;
    for (const auto& f : cg_.init_join_files()) files.push_back(f.string());
    pid_t init = ::fork();
    if (init == 0) {
        bool joined = join_cgroups(files) && ::chdir("/") == 0;
        [[maybe_unused]] auto n = ::write(ready[1], joined ? "y" : "n", 1);
        ::pause();
        ::_exit(0);
    }
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    ::close(ready[1]);
    stdfs::path old = stdfs::current_path();
    stdfs::current_path(dir);
    std::ofstream(dir / "pid") << init << "\n";
    Pod pod = Pod::open_current(uuid_, false);
    auto found = pod.running_init_pid();
    std::ofstream(dir / "pid") << ::getppid() << "\n";
    auto stranger = pod.running_init_pid();
    stdfs::current_path(old);
    ::kill(init, SIGKILL);
    ::waitpid(init, nullptr, 0);
    stdfs::remove_all(base);
    EXPECT_EQ(c, 'y');
    EXPECT_EQ(found, init);
    EXPECT_EQ(stranger, std::nullopt);
}

// The cgroup v2 path, for real: this machine's cgroup2 mount (at /sys/fs/cgroup/unified on the
// hybrid layout) takes a pod as a pure v2 machine would, and its app cgroup gets the BPF device
// program.
TEST(CgroupV2Devices, AnAppsCgroupGetsTheDeviceProgram) {
    if (::geteuid() != 0) GTEST_SKIP() << "creating cgroups needs root";
    stdfs::path cgroup2;
    for (const char* candidate : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"})
        if (stdfs::exists(stdfs::path(candidate) / "cgroup.controllers")) {
            cgroup2 = candidate;
            break;
        }
    if (cgroup2.empty()) GTEST_SKIP() << "no cgroup2 hierarchy here";
    if (::access("/dev/loop-control", F_OK) != 0) GTEST_SKIP() << "no /dev/loop-control here";
    CgroupLayout layout;
    layout.v2 = true;
    layout.pod_dirs = {
        cgroup2 / ("rkt-5c0ac1e1-0000-4000-8000-" + std::to_string(300000000000 + ::getpid()))};
    PodCgroups cg = PodCgroups::create(layout, {"web"}, {{}}, {});
    cg.restrict_devices({"web"});
    std::vector<std::string> files;
    for (const auto& f : cg.app_join_files("web")) files.push_back(f.string());
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (!join_cgroups(files)) ::_exit(2);
        int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd < 0) ::_exit(3);
        int loop_fd = ::open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        ::_exit(loop_fd < 0 && errno == EPERM ? 0 : 4);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    cg.remove();
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0)
        << "2: cannot join, 3: /dev/null refused, 4: loop-control open";
}
