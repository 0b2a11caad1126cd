#include "network/cni_plugin.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fs.h"
#include "test_support.h"

namespace rkt::net {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::TempDir;
using test::write_script;

class CniPlugin : public ::testing::Test {
protected:
    PluginCall call(const std::string& type) const {
        PluginCall c;
        c.command = "ADD";
        c.container_id = "0123-abcd";
        c.netns = "/run/netns/none";
        c.ifname = "eth0";
        c.args = "IP=10.0.0.2";
        c.search_path = {(dir_ / "empty").string(), (dir_ / "bin").string()};
        c.config = {{"cniVersion", "1.0.0"}, {"name", "n"}, {"type", type}};
        c.timeout = 5s;
        return c;
    }
    std::string error_of(const PluginCall& c) const {
        try {
            run_plugin(c);
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    }
    TempDir dir_;
};

TEST_F(CniPlugin, GetsEnvironmentAndConfigAndReturnsItsResult) {
    // The fake echoes what it was given as a result-shaped JSON.
    write_script(dir_ / "bin", "fake",
                 "cfg=$(cat)\n"
                 "printf '{\"cniVersion\":\"1.0.0\",\"env\":\"%s %s %s %s %s %s\",\"cfg\":%s}' "
                 "\"$CNI_COMMAND\" \"$CNI_CONTAINERID\" \"$CNI_NETNS\" \"$CNI_IFNAME\" "
                 "\"$CNI_ARGS\" \"$CNI_PATH\" \"$cfg\"\n");
    json out = run_plugin(call("fake"));
    EXPECT_EQ(out["env"], "ADD 0123-abcd /run/netns/none eth0 IP=10.0.0.2 " +
                              (dir_ / "empty").string() + ":" + (dir_ / "bin").string());
    EXPECT_EQ(out["cfg"]["name"], "n");
    EXPECT_EQ(out["cfg"]["type"], "fake");
}

TEST_F(CniPlugin, EmptyOutputIsNull) {
    write_script(dir_ / "bin", "quiet", "cat >/dev/null\n");
    EXPECT_TRUE(run_plugin(call("quiet")).is_null());
}

TEST_F(CniPlugin, ErrorResult) {
    write_script(dir_ / "bin", "failing",
                 "echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"bad config\","
                 "\"details\":\"no subnet\"}'; exit 1\n");
    EXPECT_EQ(error_of(call("failing")),
              "plugin failing: ADD failed (code 7) bad config: no subnet");
}

TEST_F(CniPlugin, GarbageWithFailureIsQuotedAndCut) {
    write_script(dir_ / "bin", "garbage",
                 "printf 'oops\\001'; head -c 5000 /dev/zero | tr '\\0' x; exit 3\n");
    std::string e = error_of(call("garbage"));
    EXPECT_EQ(e.rfind("plugin garbage: ADD failed with exit code 3: \"oops?xxx", 0), 0u) << e;
    EXPECT_LT(e.size(), 400u);
}

TEST_F(CniPlugin, FailureWithoutOutput) {
    write_script(dir_ / "bin", "silent", "exit 2\n");
    EXPECT_EQ(error_of(call("silent")),
              "plugin silent: ADD failed with exit code 2 and printed nothing");
}

TEST_F(CniPlugin, GarbageWithSuccessIsNotJson) {
    write_script(dir_ / "bin", "liar", "echo 'all fine'\n");
    EXPECT_EQ(error_of(call("liar")),
              "plugin liar: ADD printed something that is not JSON: \"all fine\"");
}

TEST_F(CniPlugin, HugeOutputIsRefused) {
    write_script(dir_ / "bin", "chatty", "head -c 3000000 /dev/zero\n");
    EXPECT_NE(error_of(call("chatty")).find("printed more than 1048576 bytes"), std::string::npos);
}

TEST_F(CniPlugin, HangIsKilledWithItsChildren) {
    write_script(dir_ / "bin", "hang",
                 "sleep 1000 & echo $! > " + (dir_ / "child").string() + "\nsleep 1000\n");
    PluginCall c = call("hang");
    c.timeout = 300ms;
    EXPECT_EQ(error_of(c), "plugin hang: ADD did not finish within 300 ms; it was killed");
    pid_t child = std::stoi(fs::read_file(dir_ / "child"));
    bool gone = false;
    for (int i = 0; i < 1000 && !gone; ++i) {
        auto stat = fs::read_file_if_exists("/proc/" + std::to_string(child) + "/stat");
        gone = !stat || stat->find(") Z") != std::string::npos;
        if (!gone) ::usleep(1000);
    }
    EXPECT_TRUE(gone) << "the plugin's child " << child << " outlived it";
}

TEST_F(CniPlugin, CrashIsReported) {
    write_script(dir_ / "bin", "crash", "kill -SEGV $$\n");
    EXPECT_EQ(error_of(call("crash")),
              "plugin crash: ADD was killed by signal 11 and printed nothing");
}

TEST_F(CniPlugin, MissingAndNotExecutable) {
    std::string e = error_of(call("absent"));
    EXPECT_EQ(e.rfind("plugin absent: not found in the CNI path " + (dir_ / "empty").string(), 0),
              0u)
        << e;
    write_script(dir_ / "bin", "noexec", "exit 0\n", 0644);
    EXPECT_NE(error_of(call("noexec")).find("is not an executable file"), std::string::npos);
    EXPECT_NE(error_of(call("../bin/sh")).find("not a plugin name"), std::string::npos);
}

TEST_F(CniPlugin, FindPluginLooksInOrder) {
    write_script(dir_ / "a", "p", "exit 0\n");
    write_script(dir_ / "b", "p", "exit 0\n");
    EXPECT_EQ(find_plugin("p", {(dir_ / "b").string(), (dir_ / "a").string()}),
              (dir_ / "b" / "p").string());
}

TEST_F(CniPlugin, RealLoopbackVersion) {
    if (!fs::read_file_if_exists("/usr/lib/cni/loopback"))
        GTEST_SKIP() << "no /usr/lib/cni/loopback";
    PluginCall c = call("loopback");
    c.command = "VERSION";
    c.search_path = {"/usr/lib/cni"};
    json out = run_plugin(c);
    ASSERT_TRUE(out.contains("supportedVersions")) << out.dump();
    bool has_100 = false;
    for (const auto& v : out["supportedVersions"]) has_100 = has_100 || v == "1.0.0";
    EXPECT_TRUE(has_100) << out.dump();
}

}  // namespace
}  // namespace rkt::net
