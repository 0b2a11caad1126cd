// The data directory as root finds it: made with rkt's modes, an older one tightened, and one
// another user could change refused in one line (its path, its owner, the fix).
#include "stage0/data_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/error.h"

namespace rkt::data_dir {
namespace {

constexpr gid_t kReaders = 4242;  // any gid: secure() takes the group it is given

struct Owner {
    uid_t uid;
    gid_t gid;
    mode_t mode;
};

Owner owner_of(const stdfs::path& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return {st.st_uid, st.st_gid, st.st_mode & 07777};
}

class DataDirTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "the data directory's owners are root's to set";
        std::string tmpl = (stdfs::temp_directory_path() / "rkt-data-dir-test-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        tmp_ = tmpl;
        data_ = tmp_ / "data";
    }
    void TearDown() override {
        std::error_code ec;
        if (!tmp_.empty()) stdfs::remove_all(tmp_, ec);
    }
    // secure() must refuse, naming `path` and `fragment`.
    void expect_refused(const stdfs::path& path, const std::string& fragment) {
        try {
            secure(data_, kReaders);
            ADD_FAILURE() << "accepted a data directory with " << path;
        } catch (const Error& e) {
            std::string m = e.what();
            EXPECT_NE(m.find(path.string() + " "), std::string::npos) << m;
            EXPECT_NE(m.find(fragment), std::string::npos) << m;
            EXPECT_NE(m.find("choose another --dir"), std::string::npos) << m;
            EXPECT_EQ(m.find('\n'), std::string::npos) << m;
        }
    }
    stdfs::path tmp_, data_;
};

TEST_F(DataDirTest, ANewDataDirectoryGetsRktsModes) {
    stdfs::path resolved = secure(data_, kReaders);
    EXPECT_EQ(resolved, stdfs::canonical(data_));
    for (const char* shared : {"", "pods", "pods/embryo", "pods/run", "pods/garbage"}) {
        Owner o = owner_of(data_ / shared);
        EXPECT_EQ(o.uid, 0u) << shared;
        EXPECT_EQ(o.gid, kReaders) << shared;
        EXPECT_EQ(o.mode, 02750u) << shared;
    }
    for (const char* mine : {"locks", "cas", "cas/blobs/sha256", "cas/tree", "cas/tmp"}) {
        Owner o = owner_of(data_ / mine);
        EXPECT_EQ(o.gid, 0u) << mine;
        EXPECT_EQ(o.mode, 0700u) << mine;
    }
}

TEST_F(DataDirTest, WithoutTheGroupEverythingIsRootsAlone) {
    secure(data_, std::nullopt);
    for (const char* part : {"", "pods", "pods/run", "cas", "locks"}) {
        Owner o = owner_of(data_ / part);
        EXPECT_EQ(o.gid, 0u) << part;
        EXPECT_EQ(o.mode, 0700u) << part;
    }
}

TEST_F(DataDirTest, AnOlderWorldReadableDataDirectoryIsTightened) {
    for (const char* d : {"cas/tree/sha256-x/rootfs", "cas/blobs/sha256", "pods/run/p/overlay"})
        stdfs::create_directories(data_ / d);
    for (auto& e : stdfs::recursive_directory_iterator(tmp_))
        if (e.is_directory()) ::chmod(e.path().c_str(), 0755);
    ::chmod(data_.c_str(), 0755);
    secure(data_, kReaders);
    EXPECT_EQ(owner_of(data_).mode, 02750u);
    EXPECT_EQ(owner_of(data_ / "cas").mode, 0700u);
    EXPECT_EQ(owner_of(data_ / "cas/tree").mode, 0700u);
    EXPECT_EQ(owner_of(data_ / "pods/run").mode, 02750u);
    // What is below the levels rkt checks keeps its mode: the level above it closes it.
    EXPECT_EQ(owner_of(data_ / "cas/tree/sha256-x/rootfs").mode, 0755u);
}

TEST_F(DataDirTest, RefusesADataDirectoryOfAnotherUser) {
    stdfs::create_directories(data_);
    ASSERT_EQ(::chown(data_.c_str(), 1000, 1000), 0);
    expect_refused(data_, "is owned by uid 1000");
    expect_refused(data_, "chown -R root:root " + data_.string());
}

TEST_F(DataDirTest, RefusesAPartPlantedByAnotherUser) {
    secure(data_, kReaders);
    for (const char* part : {"cas", "cas/tree", "pods/run", "locks", "cas/tmp"}) {
        ASSERT_EQ(::chown((data_ / part).c_str(), 1000, 1000), 0);
        expect_refused(data_ / part, "is owned by uid 1000");
        ASSERT_EQ(::chown((data_ / part).c_str(), 0, 0), 0);
    }
    secure(data_, kReaders);  // all root's again
}

TEST_F(DataDirTest, RefusesASymlinkedPart) {
    secure(data_, kReaders);
    stdfs::remove(data_ / "cas/tree");
    stdfs::create_directory_symlink("/etc", data_ / "cas/tree");
    expect_refused(data_ / "cas/tree", "is not a directory");
}

TEST_F(DataDirTest, RefusesAPartAnyUserMayWrite) {
    secure(data_, kReaders);
    ASSERT_EQ(::chmod((data_ / "pods").c_str(), 0777), 0);
    expect_refused(data_ / "pods", "is writable by every user");
}

TEST_F(DataDirTest, RefusesADirectoryAboveThatAnotherUserOwns) {
    stdfs::path home = tmp_ / "home";
    data_ = home / "data";
    stdfs::create_directories(data_);
    ASSERT_EQ(::chown(home.c_str(), 1000, 1000), 0);
    expect_refused(home, "is owned by uid 1000");
    // Someone's directory is not root's to take: the advice is to move, never to chown it.
    expect_refused(home, "move the data directory below directories only root may change");
}

TEST_F(DataDirTest, ASymlinkAsDataDirectoryResolvesOnce) {
    stdfs::path real = tmp_ / "real";
    stdfs::create_directories(real);
    stdfs::create_directory_symlink(real, data_);
    EXPECT_EQ(secure(data_, kReaders), stdfs::canonical(real));
    EXPECT_EQ(owner_of(real / "pods").mode, 02750u);
}

}  // namespace
}  // namespace rkt::data_dir
