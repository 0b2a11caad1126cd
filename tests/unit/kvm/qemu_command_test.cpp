#include "vmm/qemu/qemu_command.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/error.h"

namespace rkt::vmm::qemu {
namespace {

QemuVmSpec sample() {
    QemuVmSpec s;
    s.kernel = "/k/bzImage";
    s.initrd = "/k/initramfs.cpio";
    s.command_line = "console=ttyS0 quiet";
    s.memory_mib = 192;
    s.vcpus = 2;
    s.disks = {{"/store/erofs/a,b.img", "rkt-app-0", true}};
    s.shares = {{"rkt-vol0", "/srv/data", true}};
    s.protocol_fd = 7;
    s.console_path = "/pod/console.log";
    return s;
}

// The value after `flag` (the first occurrence at or after `from`).
std::string after(const std::vector<std::string>& argv, const std::string& flag, size_t nth = 0) {
    for (size_t i = 0; i + 1 < argv.size(); ++i)
        if (argv[i] == flag && nth-- == 0) return argv[i + 1];
    return "";
}

TEST(QemuCommand, DescribesTheWholeVm) {
    auto argv = qemu_argv(sample());
    EXPECT_EQ(argv[0], "qemu-system-x86_64");
    EXPECT_EQ(after(argv, "-M"), "microvm,acpi=off");
    EXPECT_EQ(after(argv, "-accel"), "tcg");
    EXPECT_EQ(after(argv, "-m"), "192");
    EXPECT_EQ(after(argv, "-smp"), "2");
    EXPECT_NE(std::find(argv.begin(), argv.end(), "-no-reboot"), argv.end());
    EXPECT_NE(std::find(argv.begin(), argv.end(), "-nodefaults"), argv.end());
    EXPECT_EQ(after(argv, "-kernel"), "/k/bzImage");
    EXPECT_EQ(after(argv, "-append"), "console=ttyS0 quiet");
    // Commas in paths are doubled, as QEMU's option syntax wants.
    EXPECT_EQ(after(argv, "-drive"),
              "id=disk0,file=/store/erofs/a,,b.img,format=raw,if=none,readonly=on");
    EXPECT_EQ(after(argv, "-device"), "virtio-blk-device,drive=disk0,serial=rkt-app-0");
    EXPECT_EQ(after(argv, "-fsdev"),
              "local,id=fs0,path=/srv/data,security_model=passthrough,multidevs=remap,readonly=on");
    EXPECT_EQ(after(argv, "-device", 1), "virtio-9p-device,fsdev=fs0,mount_tag=rkt-vol0");
    EXPECT_EQ(after(argv, "-chardev", 1), "socket,id=proto,fd=7");
    EXPECT_EQ(after(argv, "-device", 3), "virtserialport,chardev=proto,name=org.rkt.guest.0");
}

TEST(QemuCommand, KvmUsesTheHostCpu) {
    QemuVmSpec s = sample();
    s.accel = Accel::kKvm;
    auto argv = qemu_argv(s);
    EXPECT_EQ(after(argv, "-accel"), "kvm");
    EXPECT_EQ(after(argv, "-cpu"), "host");
    EXPECT_EQ(engine_kernel_arguments(Accel::kKvm).find("noapictimer"), std::string::npos);
    EXPECT_NE(engine_kernel_arguments(Accel::kTcg).find("noapictimer"), std::string::npos);
    EXPECT_NE(engine_kernel_arguments(Accel::kTcg).find("reboot=t"), std::string::npos);
}

TEST(QemuCommand, RefusesWhatQemuCannotCarry) {
    QemuVmSpec s = sample();
    s.disks[0].serial = "has,comma";
    EXPECT_THROW(qemu_argv(s), Error);
    s = sample();
    s.shares[0].tag = "tag=x";
    EXPECT_THROW(qemu_argv(s), Error);
    s = sample();
    s.command_line += "\nmore";
    EXPECT_THROW(qemu_argv(s), Error);
    s = sample();
    s.kernel.clear();
    EXPECT_THROW(qemu_argv(s), Error);
    s = sample();
    s.protocol_fd = -1;
    EXPECT_THROW(qemu_argv(s), Error);
    s = sample();
    s.memory_mib = 8;
    EXPECT_THROW(qemu_argv(s), Error);
}

TEST(QemuCommand, EscapesOptionValues) {
    EXPECT_EQ(escape_option_value("a,b,,c"), "a,,b,,,,c");
    EXPECT_EQ(escape_option_value("plain"), "plain");
}

}  // namespace
}  // namespace rkt::vmm::qemu

namespace rkt::vmm::qemu {
namespace {

TEST(QemuCommand, JailedQemuGetsItsSandboxFdSetsAndAConsolePipe) {
    QemuVmSpec s = sample();
    s.sandbox = true;
    s.fd_sets = {{4, 1}};
    s.disks[0].path = "/dev/fdset/1";
    s.console_path.clear();
    s.console_on_stdout = true;
    auto argv = qemu_argv(s);
    EXPECT_EQ(after(argv, "-sandbox"),
              "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    EXPECT_EQ(after(argv, "-add-fd"), "fd=4,set=1");
    EXPECT_EQ(after(argv, "-machine"), "dump-guest-core=off");
    EXPECT_EQ(after(argv, "-chardev"), "stdio,id=console,signal=off");
    EXPECT_EQ(after(argv, "-serial"), "chardev:console");
    EXPECT_EQ(after(argv, "-drive"), "id=disk0,file=/dev/fdset/1,format=raw,if=none,readonly=on");
    // Without the sandbox asked for, none.
    EXPECT_EQ(after(qemu_argv(sample()), "-sandbox"), "");
}

TEST(QemuCommand, EachNicIsATapNetdevWithItsMac) {
    QemuVmSpec s = sample();
    s.nics = {{9, {0x02, 0x42, 0xac, 0x10, 0x1c, 0x05}}, {10, {0x0a, 0, 0, 0, 0, 0xff}}};
    auto argv = qemu_argv(s);
    EXPECT_EQ(after(argv, "-netdev"), "tap,id=net0,fd=9,vhost=off");
    EXPECT_EQ(after(argv, "-netdev", 1), "tap,id=net1,fd=10,vhost=off");
    EXPECT_NE(
        std::find(argv.begin(), argv.end(), "virtio-net-device,netdev=net0,mac=02:42:ac:10:1c:05"),
        argv.end());
    EXPECT_NE(
        std::find(argv.begin(), argv.end(), "virtio-net-device,netdev=net1,mac=0a:00:00:00:00:ff"),
        argv.end());

    s.nics[1].mac = s.nics[0].mac;  // two NICs, one MAC
    EXPECT_THROW(qemu_argv(s), Error);
    s.nics[1].mac = {0x01, 0, 0x5e, 0, 0, 1};  // multicast
    EXPECT_THROW(qemu_argv(s), Error);
    s.nics[1] = {-1, {0x02, 0, 0, 0, 0, 9}};
    EXPECT_THROW(qemu_argv(s), Error);
}

}  // namespace
}  // namespace rkt::vmm::qemu
