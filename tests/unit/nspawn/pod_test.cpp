// Reading the pod directory: run-options.json, the manifest, the pid file.
#include "stage1-nspawn/pod.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "stage1-nspawn/network.h"

namespace stdfs = std::filesystem;
using namespace rkt;
using namespace rkt::nspawn;

namespace {

const std::string kUuid = "0f746094-3438-42bc-ab37-3cf85f132e60";

class PodDir : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/rkt-pod-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        dir_ = base_ / kUuid;
        stdfs::create_directories(dir_);
        old_cwd_ = stdfs::current_path();
        stdfs::current_path(dir_);
    }
    void TearDown() override {
        stdfs::current_path(old_cwd_);
        stdfs::remove_all(base_);
    }
    void write(const std::string& name, const std::string& text) {
        std::ofstream(dir_ / name) << text;
    }
    stdfs::path base_, dir_, old_cwd_;
};

const char* kManifest = R"({"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"a",)"
                        R"("image":{"name":"x","id":"sha256-00"},"app":{"exec":["/bin/true"]}}]})";

}  // namespace

TEST_F(PodDir, OpensWithDefaultsWithoutRunOptions) {
    write("pod", kManifest);
    Pod pod = Pod::open_current(kUuid);
    EXPECT_EQ(pod.uuid(), kUuid);
    EXPECT_EQ(pod.dir(), dir_);
    EXPECT_EQ(pod.options().net, std::vector<std::string>{"default"});
    EXPECT_FALSE(pod.options().interactive);
    EXPECT_EQ(pod.app("a").app.exec[0], "/bin/true");
    EXPECT_THROW(pod.app("b"), Error);
    EXPECT_THROW(pod.app_tree("a"), Error) << "no appsinfo/a/rootfs";
}

TEST_F(PodDir, RunOptions) {
    write("pod", kManifest);
    write("run-options.json",
          R"({"hostname":"h","net":["host"],"dns":["1.1.1.1"],"hostsEntries":["1.2.3.4=x"],)"
          R"("insecureOptions":["image","paths"],"interactive":true,"debug":false,)"
          R"("engine":"auto","memory":1048576,"cpuMillis":null})");
    RunOptions o = Pod::open_current(kUuid).options();
    EXPECT_EQ(o.hostname, "h");
    EXPECT_EQ(o.net, std::vector<std::string>{"host"});
    EXPECT_EQ(o.dns, std::vector<std::string>{"1.1.1.1"});
    EXPECT_EQ(o.insecure_options, (std::vector<std::string>{"image", "paths"}));
    EXPECT_TRUE(o.interactive);
    EXPECT_EQ(o.memory, 1048576u);
    EXPECT_FALSE(o.cpu_millis);
    write("run-options.json", R"({"net":"host"})");
    EXPECT_THROW(Pod::open_current(kUuid), Error);
    write("run-options.json", "[]");
    EXPECT_THROW(Pod::open_current(kUuid), Error);
}

TEST_F(PodDir, WrongDirectoryOrManifest) {
    EXPECT_THROW(Pod::open_current("0f746094-3438-42bc-ab37-3cf85f132e61"), Error);
    EXPECT_THROW(Pod::open_current("not-a-uuid"), Error);
    EXPECT_THROW(Pod::open_current(kUuid), Error) << "no pod file";
    EXPECT_NO_THROW(Pod::open_current(kUuid, /*load_manifest=*/false));
    write("pod", "{");
    EXPECT_THROW(Pod::open_current(kUuid), Error);
}

TEST_F(PodDir, PidFileMustNameAProcessOfThisPod) {
    Pod pod = Pod::open_current(kUuid, false);
    EXPECT_FALSE(pod.running_init_pid());
    // This test process runs in the pod directory, so it passes for the pod's init...
    write("pid", std::to_string(::getpid()) + "\n");
    EXPECT_EQ(pod.running_init_pid(), ::getpid());
    // ...and a process elsewhere (PID 1) does not.
    write("pid", "1\n");
    EXPECT_THROW(pod.running_init_pid(), Error) << "pid 1 is never a pod init";
    write("pid", std::to_string(::getppid()) + "\n");
    EXPECT_FALSE(pod.running_init_pid());
    write("pid", "12ab\n");
    EXPECT_THROW(pod.running_init_pid(), Error);
}

TEST(Hostname, Validation) {
    EXPECT_TRUE(is_valid_hostname("rkt-" + kUuid));
    EXPECT_TRUE(is_valid_hostname("a.b-c.d"));
    for (const char* bad : {"", "-a", "a-", "a..b", "a_b", "a b", "a/b"})
        EXPECT_FALSE(is_valid_hostname(bad)) << bad;
    EXPECT_FALSE(is_valid_hostname(std::string(65, 'a')));
}

TEST(Network, Plans) {
    EXPECT_TRUE(network::plan({"host"}).host);
    EXPECT_FALSE(network::plan({"none"}).host);
    EXPECT_EQ(network::plan({"none"}).selection.kind, net::NetSelection::Kind::kNone);
    EXPECT_TRUE(network::plan({"none"}).selection.networks.empty());
    auto defaults = network::plan({}).selection.networks;
    ASSERT_EQ(defaults.size(), 1u);
    EXPECT_EQ(defaults[0].name, "default");
    auto two = network::plan({"default,foo:IP=1.2.3.4"}).selection.networks;
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[1].name, "foo");
    EXPECT_EQ(two[1].args, "IP=1.2.3.4");
    EXPECT_EQ(two[1].ip, "1.2.3.4");
    EXPECT_THROW(network::plan({"host", "default"}), Error);
    EXPECT_THROW(network::plan({"none,default"}), Error);
}
