#include "stage0/pod/pod_spec_builder.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/isolation.h"
#include "stage0/pod/pod_manifest_input.h"

namespace fs = std::filesystem;

TEST(PodSpecBuilder, VolumeFlags) {
    auto v = rkt::parse_volume_flag("data,kind=host,source=/tmp,readOnly=true");
    EXPECT_EQ(v.name, "data");
    EXPECT_EQ(v.kind, "host");
    EXPECT_TRUE(v.read_only);
    auto e = rkt::parse_volume_flag("scratch,kind=empty,mode=0700,uid=5");
    EXPECT_EQ(e.mode, "0700");
    EXPECT_EQ(e.uid, 5u);
    EXPECT_THROW(rkt::parse_volume_flag("d,kind=host,source=/this/directory/does/not/exist"),
                 rkt::Error);
    try {
        rkt::parse_volume_flag("d,kind=host,source=/this/directory/does/not/exist");
    } catch (const rkt::Error& err) {
        EXPECT_NE(std::string(err.what()).find("/this/directory/does/not/exist"),
                  std::string::npos);
    }
    EXPECT_THROW(rkt::parse_volume_flag("d,kind=nfs"), rkt::Error);
    EXPECT_THROW(rkt::parse_volume_flag("Bad,kind=empty"), rkt::Error);
    EXPECT_THROW(rkt::parse_volume_flag("d,kind=empty,mode=999"), rkt::Error);
}

TEST(PodSpecBuilder, MountFlags) {
    auto m = rkt::parse_mount_flag("volume=v,target=dir1");
    EXPECT_EQ(m.path, "/dir1");
    EXPECT_EQ(rkt::parse_mount_flag("volume=v,target=/a/b/../c").path, "/a/c");
    EXPECT_EQ(rkt::parse_mount_flag("volume=v,target=/../../etc").path, "/etc");  // inside the app
    EXPECT_THROW(rkt::parse_mount_flag("volume=v,target=/"), rkt::Error);
    EXPECT_THROW(rkt::parse_mount_flag("volume=v"), rkt::Error);
    EXPECT_THROW(rkt::parse_mount_flag("target=/x"), rkt::Error);
}

class RootfsTest : public ::testing::Test {
protected:
    void SetUp() override {
        root = fs::temp_directory_path() / ("rkt-userres-" + std::to_string(::getpid()));
        fs::create_directories(root / "etc");
        std::ofstream(root / "etc/passwd")
            << "root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/false\n";
        std::ofstream(root / "etc/group") << "root:x:0:\nstaff:x:50:\n";
    }
    void TearDown() override { fs::remove_all(root); }
    fs::path root;
};

rkt::isolation::Identity resolve(const fs::path& root, const std::string& user,
                                 const std::string& group) {
    rkt::AppSpec app;
    app.user = user;
    app.group = group;
    return rkt::isolation::resolve_identity(app, root);
}

TEST_F(RootfsTest, ResolvesNamesAgainstTheImage) {
    auto ids = resolve(root, "www", "");
    EXPECT_EQ(ids.uid, 33u);
    EXPECT_EQ(ids.gid, 34u);  // no group given: the user's primary group
    ids = resolve(root, "www", "staff");
    EXPECT_EQ(ids.gid, 50u);
    ids = resolve(root, "1234", "");
    EXPECT_EQ(ids.uid, 1234u);
    EXPECT_EQ(ids.gid, 0u);
    EXPECT_THROW(resolve(root, "nobody", ""), rkt::Error);
    EXPECT_THROW(resolve(root, "0", "wheel"), rkt::Error);
}

TEST(PodSpecBuilder, EnvFile) {
    fs::path f = fs::temp_directory_path() / ("rkt-envfile-" + std::to_string(::getpid()));
    std::ofstream(f) << "# comment\n; other comment\n\nVAR_OTHER=file\nX=a=b\n";
    auto env = rkt::read_env_file(f);
    ASSERT_EQ(env.size(), 2u);
    EXPECT_EQ(env[0].value, "file");
    EXPECT_EQ(env[1].value, "a=b");
    std::ofstream(f) << "broken line\n";
    EXPECT_THROW(rkt::read_env_file(f), rkt::Error);
    fs::remove(f);
}

namespace {

rkt::PodAppImage fake_image(const fs::path& rootfs) {
    rkt::PodAppImage img;
    img.image.id = "sha256-" + std::string(64, 'b');
    img.image.name = "example.com/app";
    img.image.tag = "1.0";
    img.image.config.entrypoint = {"/bin/app"};
    img.image.config.cmd = {"--from-image"};
    img.image.config.env = {{"A", "image"}, {"B", "image"}};
    img.image.config.user = "www";
    img.image.config.working_dir = "/w";
    img.rootfs = rootfs;
    return img;
}

std::string manifest_with_app(const std::string& app_section) {
    return R"({"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"app",
               "image":{"name":"example.com/app"},"app":)" +
           app_section + "}]}";
}

}  // namespace

TEST_F(RootfsTest, FillsWhatTheAppLeavesOutFromTheImage) {
    std::vector<rkt::PodAppImage> images{fake_image(root)};
    auto cli = rkt::pod_intent_from_flags(
        {}, rkt::parse_app_args({"example.com/app:1.0", "--environment=B=asked"}, {}));
    auto file = rkt::parse_pod_manifest_input(
        manifest_with_app(R"({"environment":[{"name":"B","value":"asked"}]})"));
    for (const auto* intent : {&cli, &file.intent}) {
        rkt::PodManifest pm = rkt::build_pod_manifest(*intent, images);
        ASSERT_EQ(pm.apps.size(), 1u);
        const rkt::AppSpec& app = pm.apps[0].app;
        EXPECT_EQ(pm.apps[0].name, "app");
        EXPECT_EQ(pm.apps[0].image.name, "example.com/app:1.0");
        EXPECT_EQ(app.exec, (std::vector<std::string>{"/bin/app", "--from-image"}));
        EXPECT_EQ(*app.env("A"), "image");
        EXPECT_EQ(*app.env("B"), "asked");
        ASSERT_NE(app.env("PATH"), nullptr);
        EXPECT_EQ(app.user, "33");  // "www" in the image's /etc/passwd
        EXPECT_EQ(app.group, "34");
        EXPECT_EQ(app.working_directory, "/w");
    }
}

TEST_F(RootfsTest, CommandLineAndPodManifestBuildTheSamePod) {
    std::vector<rkt::PodAppImage> images{fake_image(root)};
    rkt::PodFlags flags;
    flags.volumes = {"data,kind=empty,mode=0700"};
    auto cli = rkt::pod_intent_from_flags(
        flags, rkt::parse_app_args(
                   {"example.com/app:1.0", "--exec=/bin/other", "--user=0", "--group=staff",
                    "--working-dir=/tmp", "--memory=50M", "--pids-limit=64",
                    "--mount=volume=data,target=/data", "--user-label=tier=web",
                    "--user-annotation=owner=ops", "--annotation=note=x", "--", "a", "b"},
                   {}));
    auto file = rkt::parse_pod_manifest_input(R"({"acKind":"PodManifest","acVersion":"0.8.11",
        "apps":[{"name":"app","image":{"name":"example.com/app","labels":[{"name":"version","value":"1.0"}]},
                 "app":{"exec":["/bin/other","a","b"],"user":"0","group":"staff","workingDirectory":"/tmp",
                        "isolators":[{"name":"resource/memory","value":{"limit":"50M"}},
                                     {"name":"resource/pids","value":{"limit":"64"}}],
                        "userLabels":{"tier":"web"},"userAnnotations":{"owner":"ops"}},
                 "mounts":[{"volume":"data","path":"/data"}],
                 "annotations":[{"name":"note","value":"x"}]}],
        "volumes":[{"name":"data","kind":"empty","mode":"0700"}]})");
    EXPECT_EQ(rkt::build_pod_manifest(cli, images).to_json(),
              rkt::build_pod_manifest(file.intent, images).to_json());
    const rkt::PodManifest built = rkt::build_pod_manifest(file.intent, images);
    EXPECT_EQ(built.apps[0].app.group, "50");
    EXPECT_EQ(built.apps[0].app.user_labels.at("tier"), "web");
    EXPECT_EQ(built.apps[0].app.user_annotations.at("owner"), "ops");
    EXPECT_EQ(built.apps[0].annotations.at("note"), "x");
    EXPECT_EQ(built.apps[0].annotations.count("owner"), 0u);
    // And back: what cat-manifest prints reads back the same.
    EXPECT_EQ(rkt::PodManifest::parse(built.serialize()).to_json(), built.to_json());
}

TEST_F(RootfsTest, BuilderRefusesWhatNoAppCanRun) {
    std::vector<rkt::PodAppImage> images{fake_image(root)};
    images[0].image.config.entrypoint.clear();
    images[0].image.config.cmd.clear();
    auto file = rkt::parse_pod_manifest_input(manifest_with_app("{}"));
    try {
        rkt::build_pod_manifest(file.intent, images);
        ADD_FAILURE() << "an app without a command was accepted";
    } catch (const rkt::Error& e) {
        EXPECT_NE(std::string(e.what()).find("\"exec\" in the pod manifest"), std::string::npos)
            << e.what();
    }
    images = {fake_image(root)};
    file = rkt::parse_pod_manifest_input(manifest_with_app(
        R"({"isolators":[{"name":"resource/memory","value":{"limit":"lots"}}]})"));
    EXPECT_THROW(rkt::build_pod_manifest(file.intent, images), rkt::Error);
    file = rkt::parse_pod_manifest_input(
        manifest_with_app(R"({"isolators":[{"name":"resource/pids","value":{"limit":"0"}}]})"));
    EXPECT_THROW(rkt::build_pod_manifest(file.intent, images), rkt::Error);
    file = rkt::parse_pod_manifest_input(manifest_with_app(
        R"({"isolators":[{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_NOPE"]}}]})"));
    EXPECT_THROW(rkt::build_pod_manifest(file.intent, images), rkt::Error);
    file = rkt::parse_pod_manifest_input(manifest_with_app(R"({"user":"nobody"})"));
    EXPECT_THROW(rkt::build_pod_manifest(file.intent, images), rkt::Error);  // not in /etc/passwd
}

TEST_F(RootfsTest, ExposedPortsBecomeAppcPorts) {
    auto img = fake_image(root);
    img.image.config.exposed_ports = {"80/tcp", "53/udp", "8080", "80/tcp", "x/tcp", "9/sctp"};
    std::vector<rkt::PodAppImage> images{img};
    auto cli = rkt::pod_intent_from_flags({}, rkt::parse_app_args({"example.com/app:1.0"}, {}));
    const auto ports = rkt::build_pod_manifest(cli, images).apps[0].app.ports;
    ASSERT_EQ(ports.size(), 3u);
    EXPECT_EQ(ports[0].name, "80-tcp");
    EXPECT_EQ(ports[0].port, 80);
    EXPECT_EQ(ports[1].name, "53-udp");
    EXPECT_EQ(ports[1].protocol, "udp");
    EXPECT_EQ(ports[2].name, "8080-tcp");
    // A pod manifest's own port for 80/tcp stays; the image adds only the others.
    auto file = rkt::parse_pod_manifest_input(
        manifest_with_app(R"({"ports":[{"name":"http","protocol":"tcp","port":80}]})"));
    const auto mine = rkt::build_pod_manifest(file.intent, images).apps[0].app.ports;
    ASSERT_EQ(mine.size(), 3u);
    EXPECT_EQ(mine[0].name, "http");
    EXPECT_EQ(mine[1].name, "53-udp");
}
