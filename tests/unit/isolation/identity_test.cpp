// Resolving user and groups from an image's own /etc/passwd and /etc/group.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/isolation.h"

namespace stdfs = std::filesystem;
using namespace rkt;
using namespace rkt::isolation;

namespace {

class Image : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/rkt-identity-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        root_ = base_ / "rootfs";
        stdfs::create_directories(root_ / "etc");
        std::ofstream(root_ / "etc" / "passwd")
            << "root:x:0:0:root:/root:/bin/sh\n"
               "# a comment\n"
               "broken line\n"
               "user:x:1000:1001:User:/home/user:/bin/sh\n"
               "nobody:x:65534:65534::/nonexistent:/bin/false\n";
        std::ofstream(root_ / "etc" / "group") << "root:x:0:\n"
                                                  "users:x:100:user,other\n"
                                                  "staff:x:50:other\n"
                                                  "usergrp:x:1001:\n"
                                                  "video:x:44:user\n";
    }
    void TearDown() override { stdfs::remove_all(base_); }
    AppSpec app(std::string user, std::string group) {
        AppSpec a;
        a.user = std::move(user);
        a.group = std::move(group);
        return a;
    }
    std::string error_of(const AppSpec& a) {
        try {
            resolve_identity(a, root_);
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    }
    stdfs::path base_, root_;
};

}  // namespace

TEST_F(Image, Numbers) {
    Identity id = resolve_identity(app("1234", "5678"), root_);
    EXPECT_EQ(id.uid, 1234u);
    EXPECT_EQ(id.gid, 5678u);
    EXPECT_TRUE(id.supplementary_gids.empty());
    EXPECT_EQ(id.home, "/");
    // A number that names a passwd entry gets that entry's home and groups.
    Identity user = resolve_identity(app("1000", "1001"), root_);
    EXPECT_EQ(user.home, "/home/user");
    EXPECT_EQ(user.supplementary_gids, (std::vector<gid_t>{44, 100}));
}

TEST_F(Image, NamesFromTheImage) {
    AppSpec a = app("user", "users");
    a.supplementary_gids = {7, 100};
    Identity id = resolve_identity(a, root_);
    EXPECT_EQ(id.uid, 1000u);
    EXPECT_EQ(id.gid, 100u);
    EXPECT_EQ(id.user_name, "user");
    EXPECT_EQ(id.home, "/home/user");
    EXPECT_EQ(id.supplementary_gids, (std::vector<gid_t>{7, 44, 100}));
}

TEST_F(Image, UnknownNamesAreClearErrors) {
    std::string user = error_of(app("ghost", "0"));
    EXPECT_NE(user.find("user \"ghost\""), std::string::npos) << user;
    EXPECT_NE(user.find("/etc/passwd"), std::string::npos) << user;
    std::string group = error_of(app("0", "ghosts"));
    EXPECT_NE(group.find("group \"ghosts\""), std::string::npos) << group;
    EXPECT_FALSE(error_of(app("4294967295", "0")).empty()) << "(uid_t)-1 is not an id";
}

TEST_F(Image, FileOwnerAsAppcAllows) {
    if (::geteuid() != 0) GTEST_SKIP() << "chown to another user needs root";
    std::ofstream(root_ / "owned") << "x";
    ASSERT_EQ(::chown((root_ / "owned").c_str(), 4321, 8765), 0);
    Identity id = resolve_identity(app("/owned", "/owned"), root_);
    EXPECT_EQ(id.uid, 4321u);
    EXPECT_EQ(id.gid, 8765u);
    EXPECT_NE(error_of(app("/missing", "0")).find("does not exist"), std::string::npos);
}

TEST_F(Image, PasswdLeadingOutOfTheImageIsRefused) {
    stdfs::remove(root_ / "etc" / "passwd");
    std::ofstream(base_ / "outside") << "evil:x:0:0::/:/bin/sh\n";
    stdfs::create_symlink("../../outside", root_ / "etc" / "passwd");
    std::string msg = error_of(app("evil", "0"));
    EXPECT_NE(msg.find("leads out of the root"), std::string::npos) << msg;
}

TEST_F(Image, NoDatabasesMeansNumbersOnly) {
    stdfs::remove(root_ / "etc" / "passwd");
    stdfs::remove(root_ / "etc" / "group");
    Identity id = resolve_identity(app("0", "0"), root_);
    EXPECT_EQ(id.uid, 0u);
    EXPECT_FALSE(error_of(app("root", "0")).empty());
}
