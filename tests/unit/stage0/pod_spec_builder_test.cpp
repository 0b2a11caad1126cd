#include "stage0/pod/pod_spec_builder.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/isolation.h"

namespace fs = std::filesystem;

TEST(PodSpecBuilder, VolumeFlags) {
    auto v = rkt::parse_volume_flag("data,kind=host,source=/tmp,readOnly=true");
    EXPECT_EQ(v.name, "data");
    EXPECT_EQ(v.kind, "host");
    EXPECT_TRUE(v.read_only);
    auto e = rkt::parse_volume_flag("scratch,kind=empty,mode=0700,uid=5");
    EXPECT_EQ(e.mode, "0700");
    EXPECT_EQ(e.uid, 5u);
    EXPECT_THROW(rkt::parse_volume_flag("d,kind=host,source=/this/directory/does/not/exist"), rkt::Error);
    try {
        rkt::parse_volume_flag("d,kind=host,source=/this/directory/does/not/exist");
    } catch (const rkt::Error& err) {
        EXPECT_NE(std::string(err.what()).find("/this/directory/does/not/exist"), std::string::npos);
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
        std::ofstream(root / "etc/passwd") << "root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/false\n";
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
