// Planning an app: mounts, /etc files, environment, and the errors that stop a pod early.
#include "stage1-nspawn/app_plan.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "stage1-nspawn/app_root.h"

namespace stdfs = std::filesystem;
using namespace rkt;
using namespace rkt::nspawn;
using nlohmann::json;

namespace {

const std::string kUuid = "6a3e5a4e-7d7a-4c55-9d61-4c1f25a0f001";

class Plan : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/rkt-plan-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        dir_ = base_ / kUuid;
        tree_ = base_ / "tree";
        stdfs::create_directories(tree_ / "etc");
        std::ofstream(tree_ / "etc" / "passwd") << "root:x:0:0::/root:/bin/sh\n"
                                                   "user:x:1000:1000::/home/user:/bin/sh\n";
        stdfs::create_directories(dir_ / "appsinfo" / "a");
        stdfs::create_symlink(tree_, dir_ / "appsinfo" / "a" / "rootfs");
        stdfs::create_directories(base_ / "src");
        old_cwd_ = stdfs::current_path();
        stdfs::current_path(dir_);
    }
    void TearDown() override {
        stdfs::current_path(old_cwd_);
        stdfs::remove_all(base_);
    }
    // A pod of app "a" with `app` (merged into the defaults), `volumes` and `mounts`.
    Pod pod(json app = json::object(), json volumes = json::array(), json mounts = json::array(),
            json options = json::object()) {
        json spec = {{"exec", {"/bin/sh"}}, {"user", "0"}, {"group", "0"}};
        if (app.is_object()) spec.update(app);
        json manifest = {{"acVersion", "0.8.11"},
                         {"acKind", "PodManifest"},
                         {"apps",
                          {{{"name", "a"},
                            {"image", {{"name", "x"}, {"id", "sha256-00"}}},
                            {"app", spec},
                            {"mounts", mounts}}}},
                         {"volumes", volumes}};
        std::ofstream(dir_ / "pod") << manifest.dump();
        std::ofstream(dir_ / "run-options.json")
            << (options.is_object() ? options : json::object()).dump();
        return Pod::open_current(kUuid);
    }
    AppPlan plan(const Pod& p) {
        EtcFiles etc = prepare_etc_files(p, "rkt-test", false);
        return plan_app(p, p.app("a"), etc, {}, false);
    }
    std::string error_of(const Pod& p) {
        try {
            plan(p);
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    }
    stdfs::path base_, dir_, tree_, old_cwd_;
};

const MountPlan* find_target(const AppPlan& p, const std::string& target) {
    for (const auto& m : p.mounts)
        if (m.target == target) return &m;
    return nullptr;
}

}  // namespace

TEST_F(Plan, Defaults) {
    AppPlan p = plan(pod());
    EXPECT_EQ(p.tree, stdfs::canonical(tree_));
    EXPECT_EQ(p.upper, dir_ / "overlay" / "a" / "upper");
    EXPECT_EQ(p.exec.working_directory, "/");
    EXPECT_EQ(p.identity.uid, 0u);
    ASSERT_TRUE(p.policy.seccomp);
    std::vector<std::string> env = p.exec.env;
    EXPECT_NE(std::find(env.begin(), env.end(), "AC_APP_NAME=a"), env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "HOME=/root"), env.end());
    EXPECT_NE(std::find_if(env.begin(), env.end(),
                           [](const std::string& e) { return e.rfind("PATH=/usr/local", 0) == 0; }),
              env.end());
    // The image has no /etc/hosts: the fallback is mounted; hostname always.
    ASSERT_TRUE(find_target(p, "/etc/hosts"));
    EXPECT_EQ(find_target(p, "/etc/hostname")->source, dir_ / "etc" / "hostname");
    EXPECT_FALSE(find_target(p, "/etc/resolv.conf"));
}

TEST_F(Plan, ImageHostsFileIsKeptUnlessEntriesAreGiven) {
    std::ofstream(tree_ / "etc" / "hosts") << "127.0.0.1 image\n";
    EXPECT_FALSE(find_target(plan(pod()), "/etc/hosts"));
    AppPlan with_entries =
        plan(pod({}, json::array(), json::array(), {{"hostsEntries", {"10.0.0.1=x"}}}));
    ASSERT_TRUE(find_target(with_entries, "/etc/hosts"));
}

TEST_F(Plan, Volumes) {
    std::ofstream(base_ / "src" / "file") << "x";
    json volumes = {
        {{"name", "host"},
         {"kind", "host"},
         {"source", (base_ / "src").string()},
         {"readOnly", true}},
        {{"name", "one"}, {"kind", "host"}, {"source", (base_ / "src" / "file").string()}},
        {{"name", "scratch"}, {"kind", "empty"}},
        {{"name", "implicit"}, {"kind", "empty"}}};
    json mounts = {{{"volume", "host"}, {"path", "/data"}},
                   {{"volume", "one"}, {"path", "/etc/one"}},
                   {{"volume", "scratch"}, {"path", "/scratch"}}};
    json app = {{"mountPoints", {{{"name", "implicit"}, {"path", "/auto"}, {"readOnly", true}}}}};
    AppPlan p = plan(pod(app, volumes, mounts));
    const MountPlan* data = find_target(p, "/data");
    ASSERT_TRUE(data);
    EXPECT_TRUE(data->read_only);
    EXPECT_TRUE(data->directory);
    const MountPlan* one = find_target(p, "/etc/one");
    ASSERT_TRUE(one);
    EXPECT_FALSE(one->directory);
    EXPECT_EQ(find_target(p, "/scratch")->source, dir_ / "sharedVolumes" / "scratch");
    const MountPlan* automatic = find_target(p, "/auto");
    ASSERT_TRUE(automatic) << "an image mount point filled by the pod volume of its name";
    EXPECT_TRUE(automatic->read_only);
}

TEST_F(Plan, MistakesNameTheAppAndWhatIsWrong) {
    json missing = {
        {{"name", "v"}, {"kind", "host"}, {"source", "/this/directory/does/not/exist"}}};
    std::string msg = error_of(pod({}, missing, {{{"volume", "v"}, {"path", "/v"}}}));
    EXPECT_NE(msg.find("app \"a\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("/this/directory/does/not/exist"), std::string::npos) << msg;

    msg = error_of(pod({}, json::array(), {{{"volume", "nope"}, {"path", "/v"}}}));
    EXPECT_NE(msg.find("\"nope\""), std::string::npos) << msg;

    json empty = {{{"name", "v"}, {"kind", "empty"}}};
    msg = error_of(pod({}, empty, {{{"volume", "v"}, {"path", "relative"}}}));
    EXPECT_NE(msg.find("must be absolute"), std::string::npos) << msg;

    msg = error_of(pod({{"exec", json::array()}}));
    EXPECT_NE(msg.find("--exec"), std::string::npos) << msg;

    msg = error_of(pod({{"user", "ghost"}}));
    EXPECT_NE(msg.find("ghost"), std::string::npos) << msg;

    msg = error_of(pod({{"workingDirectory", "here"}}));
    EXPECT_NE(msg.find("must be absolute"), std::string::npos) << msg;
}

TEST_F(Plan, SharedVolumesGetTheirModeAndOwner) {
    json volumes = {
        {{"name", "v"}, {"kind", "empty"}, {"mode", "0770"}, {"uid", 1000}, {"gid", 100}}};
    Pod p = pod({}, volumes);
    prepare_shared_volumes(p);
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / "sharedVolumes" / "v").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0770u);
    if (::geteuid() == 0) {
        EXPECT_EQ(st.st_uid, 1000u);
        EXPECT_EQ(st.st_gid, 100u);
    }
    json bad = {{{"name", "v"}, {"kind", "empty"}, {"mode", "0999"}}};
    EXPECT_THROW(prepare_shared_volumes(pod({}, bad)), Error);
}

TEST(FindProgram, SearchesThePathOfTheAppsEnvironment) {
    EXPECT_EQ(find_program("/bin/sh", {}), "/bin/sh");
    EXPECT_EQ(find_program("./x", {}), "./x");
    EXPECT_EQ(find_program("sh", {"PATH=/nonexistent:/bin"}), "/bin/sh");
    EXPECT_THROW(find_program("sh", {"PATH=/nonexistent"}), Error);
}
