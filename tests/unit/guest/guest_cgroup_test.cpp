// The pure parts of the guest's cgroups and console: the values an app's limits become, the
// OOM kill count read back, and what guest-init may print on the console. The cgroups
// themselves live in the guest (tests/e2e/test_guest_boot.py, test_kvm_limits.py).
#include <gtest/gtest.h>

#include "guest-init/app_cgroup.h"
#include "guest-init/host_channel.h"

namespace rkt::guest_init {
namespace {

TEST(AppCgroupValues, AnAppWithoutLimitsGetsTheKernelsDefaults) {
    CgroupValues v = cgroup_values(guest::AppLimits{});
    EXPECT_EQ(v.memory_max, "max");
    EXPECT_EQ(v.cpu_max, "max 100000");
    EXPECT_EQ(v.cpu_weight, "100");
    EXPECT_EQ(v.pids_max, "max");
}

TEST(AppCgroupValues, LimitsBecomeCgroupV2Values) {
    CgroupValues v = cgroup_values(guest::AppLimits{64u << 20, 500, 20, 100});
    EXPECT_EQ(v.memory_max, "67108864");
    EXPECT_EQ(v.cpu_max, "50000 100000");  // 500 millicores: half of each 100 ms period
    EXPECT_EQ(v.cpu_weight, "20");
    EXPECT_EQ(v.pids_max, "100");
    // The kernel's smallest quota is 1 ms; 2500 millicores is two and a half CPUs.
    EXPECT_EQ(cgroup_values(guest::AppLimits{{}, 1, {}, {}}).cpu_max, "1000 100000");
    EXPECT_EQ(cgroup_values(guest::AppLimits{{}, 2500, {}, {}}).cpu_max, "250000 100000");
}

TEST(AppCgroupValues, OomKillCountComesFromMemoryEvents) {
    EXPECT_EQ(oom_kill_count("low 0\nhigh 0\nmax 12\noom 1\noom_kill 3\noom_group_kill 1\n"), 3u);
    EXPECT_EQ(oom_kill_count("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"), 0u);
    EXPECT_EQ(oom_kill_count(""), 0u);
    EXPECT_EQ(oom_kill_count("oom_group_kill 2\n"), 0u);  // not the same key
    EXPECT_EQ(oom_kill_count("oom_kill x\n"), 0u);
}

TEST(GuestConsole, NothingAMessageQuotesStartsALineOfItsOwn) {
    EXPECT_EQ(console_line("app web: could not start"), "guest-init: app web: could not start\n");
    // A program path from a hostile image manifest, quoted in an error.
    EXPECT_EQ(console_line("could not execute: /x\n[    1.000000] Kernel panic - not syncing: x"),
              "guest-init: could not execute: /x?[    1.000000] Kernel panic - not syncing: x\n");
    EXPECT_EQ(console_line("a\rb\x1b[2Kc\x7f"), "guest-init: a?b?[2Kc?\n");
    EXPECT_EQ(console_line("w\xc3\xb6rld"), "guest-init: w\xc3\xb6rld\n");  // UTF-8 stays
}

}  // namespace
}  // namespace rkt::guest_init
