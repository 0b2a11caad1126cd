#include "vmm/vm_config.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "test_support.h"

using namespace rkt::vmm;

namespace {

std::string error_of(const VmConfig& c) {
    try {
        validate(c);
    } catch (const rkt::Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(VmConfig, ValidConfigPasses) {
    test::TempDir dir;
    test::write_bytes(dir.path("vmlinux"), {1, 2, 3});
    test::write_bytes(dir.path("disk"), std::vector<uint8_t>(4096));
    VmConfig c;
    c.kernel_path = dir.path("vmlinux");
    c.disks.push_back({dir.path("disk"), true, ""});
    EXPECT_EQ(error_of(c), "");
}

TEST(VmConfig, ErrorsSayWhatIsWrong) {
    test::TempDir dir;
    test::write_bytes(dir.path("vmlinux"), {1});
    VmConfig c;
    c.kernel_path = dir.path("vmlinux");

    VmConfig missing = c;
    missing.kernel_path = "/nonexistent/vmlinux";
    EXPECT_NE(error_of(missing).find("/nonexistent/vmlinux"), std::string::npos);

    VmConfig tiny = c;
    tiny.memory_mib = 8;
    EXPECT_NE(error_of(tiny).find("memory"), std::string::npos);

    VmConfig cpus = c;
    cpus.vcpus = 0;
    EXPECT_NE(error_of(cpus).find("vCPU"), std::string::npos);
    cpus.vcpus = 64;
    EXPECT_NE(error_of(cpus).find("vCPU"), std::string::npos);

    VmConfig disk = c;
    disk.disks.push_back({dir.root() / "nope.img", true, ""});
    EXPECT_NE(error_of(disk).find("nope.img"), std::string::npos);

    VmConfig fd = c;
    fd.protocol_port_fd = 9999;
    EXPECT_NE(error_of(fd).find("protocol port"), std::string::npos);

    VmConfig newline = c;
    newline.command_line_extra = "init=/x\nroot=/y";
    EXPECT_NE(error_of(newline).find("newline"), std::string::npos);

    VmConfig dir_kernel = c;
    dir_kernel.kernel_path = dir.root();
    EXPECT_NE(error_of(dir_kernel).find("not a regular file"), std::string::npos);
}

TEST(VmConfig, CommandLineFollowsTheConsoles) {
    VmConfig c;
    std::string quiet = base_command_line(c);
    EXPECT_NE(quiet.find("reboot=k"), std::string::npos);
    EXPECT_NE(quiet.find("8250.nr_uarts=0"), std::string::npos);
    EXPECT_EQ(quiet.find("console="), std::string::npos);
    c.serial = true;
    c.console_output_fd = 2;
    std::string loud = base_command_line(c);
    EXPECT_NE(loud.find("console=ttyS0"), std::string::npos);
    EXPECT_NE(loud.find("console=hvc0"), std::string::npos);
    EXPECT_NE(loud.find("8250.nr_uarts=1"), std::string::npos);
    EXPECT_EQ(loud.find("pci=off"), std::string::npos);
}

TEST(VmConfig, NicsNeedATapAndAUniqueUnicastMac) {
    test::TempDir dir;
    test::write_bytes(dir.path("vmlinux"), {1});
    test::Pipe tap;  // any open descriptor stands in for a tap here
    VmConfig c;
    c.kernel_path = dir.path("vmlinux");
    c.nics = {{tap.read_end.get(), {0x02, 0, 0, 0, 0, 1}},
              {tap.write_end.get(), {0x02, 0, 0, 0, 0, 2}}};
    EXPECT_EQ(error_of(c), "");

    VmConfig same = c;
    same.nics[1].mac = same.nics[0].mac;
    EXPECT_NE(error_of(same).find("two network interfaces have the MAC 02:00:00:00:00:01"),
              std::string::npos);
    VmConfig multicast = c;
    multicast.nics[1].mac = {0x33, 0x33, 0, 0, 0, 1};
    EXPECT_NE(error_of(multicast).find("unicast"), std::string::npos);
    VmConfig zero = c;
    zero.nics[1].mac = {};
    EXPECT_NE(error_of(zero).find("unicast"), std::string::npos);
    VmConfig no_fd = c;
    no_fd.nics[0].tap_fd = -1;
    EXPECT_NE(error_of(no_fd).find("no tap fd"), std::string::npos);
    VmConfig closed = c;
    closed.nics[0].tap_fd = 1000;
    EXPECT_NE(error_of(closed).find("tap fd 1000"), std::string::npos);
    VmConfig many = c;
    many.nics.clear();
    for (uint8_t i = 0; i < 9; ++i) many.nics.push_back({tap.read_end.get(), {2, 0, 0, 0, 0, i}});
    EXPECT_NE(error_of(many).find("at most 8"), std::string::npos);
}

TEST(VmConfig, MacsParseAndPrint) {
    auto mac = parse_mac("02:42:AC:10:1c:05");
    ASSERT_TRUE(mac.has_value());
    EXPECT_EQ(format_mac(*mac), "02:42:ac:10:1c:05");
    for (const char* bad :
         {"", "02:42:ac:10:1c", "02:42:ac:10:1c:05:", "02-42-ac-10-1c-05", "02:42:ac:10:1c:0g"})
        EXPECT_FALSE(parse_mac(bad).has_value()) << bad;
}
