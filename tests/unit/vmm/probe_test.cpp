#include "vmm/probe.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_support.h"

using namespace rkt::vmm;

TEST(Probe, NoKvmDevice) {
    ProbeOptions o;
    o.kvm_device = "/nonexistent/kvm";
    o.cache_dir.reset();
    auto p = probe_builtin_engine(o);
    EXPECT_FALSE(p.usable);
    EXPECT_NE(p.reason.find("/nonexistent/kvm"), std::string::npos);
}

TEST(Probe, PvmBackendIsRecognisedFromSysfs) {
    if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "no usable /dev/kvm here";
    test::TempDir dir;
    std::filesystem::create_directories(dir.path("module/kvm_pvm"));
    ProbeOptions o;
    o.sys_module_dir = dir.path("module");
    o.cache_dir.reset();
    auto p = probe_builtin_engine(o);
    EXPECT_FALSE(p.usable);
    EXPECT_NE(p.reason.find("kvm_pvm"), std::string::npos);
}

TEST(Probe, AnswerIsCachedPerBoot) {
    test::TempDir dir;
    ProbeOptions o;
    o.kvm_device = "/nonexistent/kvm";
    o.cache_dir = dir.path("cache");
    auto first = probe_builtin_engine(o);
    auto file = dir.path("cache") / "builtin-engine-probe.json";
    ASSERT_TRUE(std::filesystem::exists(file));
    // Rewrite the cached answer: a second call must return it without probing.
    std::ifstream in(file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto pos = text.find(first.reason);
    ASSERT_NE(pos, std::string::npos);
    text.replace(pos, first.reason.size(), "from the cache");
    std::ofstream(file) << text;
    EXPECT_EQ(probe_builtin_engine(o).reason, "from the cache");
    // A different key (another device) is not served from it.
    o.kvm_device = "/nonexistent/kvm2";
    EXPECT_NE(probe_builtin_engine(o).reason, "from the cache");
}

TEST(Probe, ThisHost) {
    // Whatever the answer, it comes with a one-line reason.
    ProbeOptions o;
    o.cache_dir.reset();
    auto p = probe_builtin_engine(o);
    EXPECT_FALSE(p.reason.empty());
    EXPECT_EQ(p.reason.find('\n'), std::string::npos);
}
