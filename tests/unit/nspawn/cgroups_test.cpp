// Where the pod's cgroups go and what is written to them, on a fake cgroup tree.
#include "stage1-nspawn/cgroups.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/fs.h"

namespace stdfs = std::filesystem;
using namespace rkt;
using namespace rkt::nspawn;

namespace {

const std::string kUuid = "0f746094-3438-42bc-ab37-3cf85f132e60";

// The layout of these machines: v1 controllers, and a cgroup2 at /sys/fs/cgroup/unified.
const std::string kHybridMountinfo =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "30 29 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "31 29 0:27 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "33 29 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "37 29 0:33 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "38 29 0:34 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "39 29 0:35 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
const std::string kHybridSelf =
    "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n";

const std::string kV2Mountinfo =
    "25 21 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";
const std::string kV2Self = "0::/user.slice/user-0.slice/session-3.scope\n";

class FakeTree : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/rkt-cgroups-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root_ = tmpl;
    }
    void TearDown() override { stdfs::remove_all(root_); }
    void touch(const stdfs::path& p) {
        stdfs::create_directories(p.parent_path());
        std::ofstream(p) << "";
    }
    std::string read(const stdfs::path& p) { return fs::read_file(p); }
    // The caller's cgroups exist on a real machine; here they are made first.
    CgroupLayout plan(const std::string& mountinfo, const std::string& self) {
        CgroupLayout l = PodCgroups::plan(kUuid, mountinfo, self, root_);
        for (const auto& d : l.pod_dirs) stdfs::create_directories(d.parent_path());
        return l;
    }
    stdfs::path root_;
};

}  // namespace

TEST(CgroupPlan, HybridUsesTheV1ControllersUnderTheCallersCgroups) {
    CgroupLayout l = PodCgroups::plan(kUuid, kHybridMountinfo, kHybridSelf, "/");
    EXPECT_FALSE(l.v2);
    std::vector<stdfs::path> expected = {
        "/sys/fs/cgroup/memory/process_api/abc/rkt-" + kUuid,
        "/sys/fs/cgroup/pids/rkt-" + kUuid,
        "/sys/fs/cgroup/cpu/rkt-" + kUuid,
    };
    EXPECT_EQ(l.pod_dirs, expected);
}

TEST(CgroupPlan, PureV2) {
    CgroupLayout l = PodCgroups::plan(kUuid, kV2Mountinfo, kV2Self, "/");
    EXPECT_TRUE(l.v2);
    ASSERT_EQ(l.pod_dirs.size(), 1u);
    EXPECT_EQ(l.pod_dirs[0],
              stdfs::path("/sys/fs/cgroup/user.slice/user-0.slice/session-3.scope/rkt-" + kUuid));
}

TEST(CgroupPlan, NoHierarchyIsAnError) {
    EXPECT_THROW(PodCgroups::plan(kUuid, "22 27 0:21 / /proc rw - proc proc rw\n", "0::/\n"),
                 Error);
    EXPECT_THROW(PodCgroups::plan(kUuid, kV2Mountinfo, "0::/../escape\n"), Error);
}

TEST(CgroupPlan, ThisMachine) {
    CgroupLayout l = PodCgroups::plan_for_this_process(kUuid);
    ASSERT_FALSE(l.pod_dirs.empty());
    for (const auto& d : l.pod_dirs) EXPECT_EQ(d.filename(), "rkt-" + kUuid);
}

TEST_F(FakeTree, V1LimitsLandInTheAppAndPodCgroups) {
    CgroupLayout l = plan(kHybridMountinfo, kHybridSelf);
    stdfs::path memory = l.pod_dirs[0], cpu = l.pod_dirs[2];
    touch(memory / "memory.limit_in_bytes");
    touch(memory / "app-web" / "memory.limit_in_bytes");
    for (const char* f : {"cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares"})
        touch(cpu / "app-web" / f);
    PodCgroups cg = PodCgroups::create(l, {"web", "side"}, {{64u << 20, 500, 512}, {}},
                                       {1u << 30, std::nullopt, std::nullopt});
    EXPECT_EQ(read(memory / "memory.limit_in_bytes"), std::to_string(1u << 30));
    EXPECT_EQ(read(memory / "app-web" / "memory.limit_in_bytes"), std::to_string(64u << 20));
    EXPECT_EQ(read(cpu / "app-web" / "cpu.cfs_period_us"), "100000");
    EXPECT_EQ(read(cpu / "app-web" / "cpu.cfs_quota_us"), "50000");
    EXPECT_EQ(read(cpu / "app-web" / "cpu.shares"), "512");
    for (const auto& d : l.pod_dirs) {
        EXPECT_TRUE(stdfs::is_directory(d / "pod-init"));
        EXPECT_TRUE(stdfs::is_directory(d / "app-side"));
    }
    // v1: a process joins through `tasks`, which takes no grace period (cgroups.h).
    EXPECT_EQ(cg.app_join_files("web").front(), memory / "app-web" / "tasks");
}

TEST_F(FakeTree, ALimitWithoutItsControllerIsAnError) {
    CgroupLayout l = plan(kHybridMountinfo, kHybridSelf);
    try {
        PodCgroups::create(l, {"web"}, {{std::nullopt, 250}}, {});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot limit the CPU of app \"web\""),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(FakeTree, V2ProcessesJoinThroughCgroupProcs) {
    CgroupLayout l = plan(kV2Mountinfo, kV2Self);
    PodCgroups cg = PodCgroups::create(l, {"web"}, {{}}, {});
    EXPECT_EQ(cg.init_join_files().front(), l.pod_dirs[0] / "pod-init" / "cgroup.procs");
}

// On this machine's real hierarchies: a process that writes "0" to the join files is in the
// pod's cgroups, in every hierarchy.
TEST(CgroupJoin, MovesTheProcessOnThisMachine) {
    if (::geteuid() != 0) GTEST_SKIP() << "creating cgroups needs root";
    const std::string uuid = "5c0ac1e1-0000-4000-8000-" + std::to_string(100000000000 + ::getpid());
    PodCgroups cg;
    try {
        cg = PodCgroups::create(PodCgroups::plan_for_this_process(uuid), {"web"}, {{}}, {});
    } catch (const Error& e) {
        GTEST_SKIP() << "cannot create cgroups here: " << e.what();
    }
    std::vector<std::string> files;
    for (const auto& f : cg.app_join_files("web")) files.push_back(f.string());
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (!join_cgroups(files)) ::_exit(2);
        // /proc/self/cgroup: one "id:controllers:path" line per hierarchy.
        std::string self = fs::read_file("/proc/self/cgroup");
        const std::string leaf = "/rkt-" + uuid + "/app-web\n";
        size_t found = 0;
        for (size_t at = self.find(leaf); at != std::string::npos; at = self.find(leaf, at + 1))
            ++found;
        ::_exit(found == cg.layout().pod_dirs.size() ? 0 : 3);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    cg.remove();
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "2: the write failed, 3: not in the cgroups";
}

TEST_F(FakeTree, V2LimitsAndControllers) {
    CgroupLayout l = plan(kV2Mountinfo, kV2Self);
    stdfs::path pod = l.pod_dirs[0];
    touch(pod.parent_path() / "cgroup.subtree_control");
    touch(pod / "cgroup.subtree_control");
    touch(pod / "app-web" / "memory.max");
    touch(pod / "app-web" / "cpu.max");
    touch(pod / "app-web" / "cpu.weight");
    PodCgroups::create(l, {"web"}, {{32u << 20, 1500, 1024}}, {});
    EXPECT_EQ(read(pod / "app-web" / "memory.max"), std::to_string(32u << 20));
    EXPECT_EQ(read(pod / "app-web" / "cpu.max"), "150000 100000");
    EXPECT_EQ(read(pod / "app-web" / "cpu.weight"), "39");
    // Controllers were asked for (a plain file just keeps the bytes written).
    EXPECT_EQ(read(pod / "cgroup.subtree_control").substr(0, 1), "+");
}

TEST_F(FakeTree, SavedLayoutLoadsBackAndStrangePathsAreRefused) {
    CgroupLayout l = PodCgroups::plan(kUuid, kHybridMountinfo, kHybridSelf, "/");
    stdfs::path file = root_ / "cgroups";
    std::ofstream(file) << "cgroup1\n"
                        << l.pod_dirs[0].string() << "\n"
                        << l.pod_dirs[1].string() << "\n";
    PodCgroups loaded = PodCgroups::load(file);
    EXPECT_EQ(loaded.layout().pod_dirs, (std::vector<stdfs::path>{l.pod_dirs[0], l.pod_dirs[1]}));
    EXPECT_FALSE(loaded.layout().v2);
    for (const char* bad : {"/etc\n", "/sys/fs/cgroup/memory/../../../etc/rkt-x\n",
                            "/sys/fs/cgroup/memory/not-a-pod\n", "relative/rkt-x\n"}) {
        std::ofstream(file) << "cgroup1\n" << bad;
        EXPECT_THROW(PodCgroups::load(file), Error) << bad;
    }
    EXPECT_TRUE(PodCgroups::load(root_ / "missing").layout().pod_dirs.empty());
}
