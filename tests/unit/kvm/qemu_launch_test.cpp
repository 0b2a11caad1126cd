// How QEMU is started in its jail (vmm/qemu/qemu_process.h): what the jail holds, the paths QEMU
// sees, the descriptors it gets, its capabilities and limits. The jail itself is tested in
// tests/unit/vmm/jail_test.cpp; QEMU in it, end to end, in tests/e2e/test_kvm_confinement.py.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/error.h"
#include "common/fs.h"
#include "common/process.h"
#include "vmm/qemu/qemu_process.h"

namespace rkt::vmm::qemu {
namespace {

namespace stdfs = std::filesystem;

class QemuLaunchTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!find_executable("qemu-system-x86_64"))
            GTEST_SKIP() << "qemu-system-x86_64 not installed (Debian package qemu-system-x86)";
        dir_ = stdfs::temp_directory_path() /
               ("rkt-qemu-launch-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        stdfs::remove_all(dir_);
        stdfs::create_directories(dir_ / "jail");
        stdfs::create_directories(dir_ / "vol");
        fs::write_file(dir_ / "bzImage", "k");
        fs::write_file(dir_ / "initrd", "i");
        fs::write_file(dir_ / "app.erofs", "e", 0600);  // readable by root only: handed over
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair_), 0);
        host_.kernel = (dir_ / "bzImage").string();
        host_.initrd = (dir_ / "initrd").string();
        host_.command_line = "console=ttyS0";
        host_.disks = {{(dir_ / "app.erofs").string(), "rkt-app-0", true}};
        host_.protocol_fd = pair_[1];
        host_.console_on_stdout = true;
        options_ = {dir_ / "jail", 0x80000007u, 0x80000007u, "RKT_POD_DIR=/pods/x"};
    }
    void TearDown() override {
        ::close(pair_[0]);
        ::close(pair_[1]);
        if (!dir_.empty()) stdfs::remove_all(dir_);
    }
    const JailBind* bind_to(const QemuLaunchPlan& p, const std::string& target) {
        for (const auto& b : p.jail.binds)
            if (b.target == target) return &b;
        return nullptr;
    }

    stdfs::path dir_;
    int pair_[2] = {-1, -1};
    QemuVmSpec host_;
    QemuJailOptions options_;
};

TEST_F(QemuLaunchTest, QemuSeesOnlyJailPathsAndHeldDisks) {
    QemuLaunchPlan plan = plan_qemu_launch(host_, options_);
    EXPECT_TRUE(plan.spec.sandbox);
    EXPECT_EQ(plan.spec.binary.rfind("/usr/", 0), 0u) << plan.spec.binary;
    EXPECT_EQ(plan.spec.kernel, "/vm/kernel");
    EXPECT_EQ(plan.spec.initrd, "/vm/initrd");
    ASSERT_NE(bind_to(plan, "/vm/kernel"), nullptr);
    EXPECT_EQ(bind_to(plan, "/vm/kernel")->source, host_.kernel);
    EXPECT_FALSE(bind_to(plan, "/vm/kernel")->writable);
    // The disk is not in the jail: an fd set of a descriptor opened here.
    EXPECT_EQ(plan.spec.disks[0].path, "/dev/fdset/1");
    ASSERT_EQ(plan.spec.fd_sets.size(), 1u);
    ASSERT_EQ(plan.opened.size(), 1u);
    EXPECT_EQ(::fcntl(plan.opened[0].get(), F_GETFL) & O_ACCMODE, O_RDONLY);
    EXPECT_EQ(plan.spec.protocol_fd, 3);
    auto handed = [&](int child) {
        return std::any_of(plan.fds.begin(), plan.fds.end(),
                           [&](const VmmFd& f) { return f.child_fd == child; });
    };
    EXPECT_TRUE(handed(3) && handed(plan.spec.fd_sets[0].fd));
    EXPECT_EQ(plan.jail.uid, 0x80000007u);
    EXPECT_TRUE(plan.jail.system_files && plan.jail.proc && plan.jail.dev);
    EXPECT_FALSE(plan.jail.kvm_device);  // TCG: no /dev/kvm
    EXPECT_TRUE(plan.jail.capabilities.empty());
    ASSERT_TRUE(plan.jail.max_file_size);
    EXPECT_EQ(*plan.jail.max_file_size, 0u);
    EXPECT_TRUE(plan.jail.network_namespace);
    EXPECT_EQ(plan.env, std::vector<std::string>{"RKT_POD_DIR=/pods/x"});
    // All of it is something the jail can be built from.
    EXPECT_NO_THROW(PreparedJail::prepare(plan.jail));
}

TEST_F(QemuLaunchTest, HostVolumesGetWhat9pNeedsAndNoMore) {
    host_.shares = {{"rkt-vol0", (dir_ / "vol").string(), false},
                    {"rkt-vol1", (dir_ / "vol").string(), true}};
    QemuLaunchPlan plan = plan_qemu_launch(host_, options_);
    EXPECT_EQ(plan.spec.shares[0].path, "/vm/share-0");
    const JailBind* rw = bind_to(plan, "/vm/share-0");
    const JailBind* ro = bind_to(plan, "/vm/share-1");
    ASSERT_TRUE(rw && ro);
    EXPECT_TRUE(rw->directory && rw->writable && rw->recursive);
    EXPECT_FALSE(ro->writable);
    auto caps = plan.jail.capabilities;
    std::sort(caps.begin(), caps.end());
    EXPECT_EQ(caps, (std::vector<int>{CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER}));
    for (int never : {CAP_FSETID, CAP_MKNOD, CAP_SETFCAP, CAP_SYS_ADMIN, CAP_SETUID})
        EXPECT_EQ(std::count(caps.begin(), caps.end(), never), 0) << never;
    EXPECT_FALSE(plan.jail.max_file_size);  // the guest's files may be large
    // The qemu_argv() of the plan still exports them with passthrough.
    auto argv = qemu_argv(plan.spec);
    EXPECT_NE(std::find(argv.begin(), argv.end(),
                        "local,id=fs0,path=/vm/share-0,security_model=passthrough,"
                        "multidevs=remap"),
              argv.end());
}

TEST_F(QemuLaunchTest, KvmGetsItsDeviceAndBadInputIsRefused) {
    host_.accel = Accel::kKvm;
    options_.kvm_device = "/dev/null";  // a character device standing in for /dev/kvm
    QemuLaunchPlan plan = plan_qemu_launch(host_, options_);
    ASSERT_TRUE(plan.jail.kvm_device);
    options_.kvm_device = (dir_ / "initrd").string();  // not a device
    EXPECT_THROW(plan_qemu_launch(host_, options_), Error);
    host_.accel = Accel::kTcg;
    host_.disks[0].path = (dir_ / "missing.erofs").string();
    EXPECT_THROW(plan_qemu_launch(host_, options_), Error);
    host_.disks.clear();
    host_.binary = "no-such-qemu-binary";
    EXPECT_THROW(plan_qemu_launch(host_, options_), Error);
}

TEST_F(QemuLaunchTest, TapsAreHandedOverAfterTheDisks) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair), 0);
    UniqueFd a(pair[0]), b(pair[1]);
    host_.nics = {{a.get(), {2, 0, 0, 0, 0, 1}}, {b.get(), {2, 0, 0, 0, 0, 2}}};
    QemuLaunchPlan plan = plan_qemu_launch(host_, options_);
    ASSERT_EQ(plan.spec.nics.size(), 2u);
    // The protocol channel (3), the one disk (4), then the taps.
    EXPECT_EQ(plan.spec.nics[0].tap_fd, 5);
    EXPECT_EQ(plan.spec.nics[1].tap_fd, 6);
    auto parent_of = [&](int child) {
        for (const VmmFd& f : plan.fds)
            if (f.child_fd == child) return f.parent_fd;
        return -1;
    };
    EXPECT_EQ(parent_of(5), a.get());
    EXPECT_EQ(parent_of(6), b.get());
    EXPECT_EQ(plan.spec.nics[1].mac, host_.nics[1].mac);
    auto argv = qemu_argv(plan.spec);
    EXPECT_NE(std::find(argv.begin(), argv.end(), "tap,id=net1,fd=6,vhost=off"), argv.end());
}

}  // namespace
}  // namespace rkt::vmm::qemu
