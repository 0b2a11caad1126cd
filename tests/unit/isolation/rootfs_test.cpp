// Resolving paths inside an app rootfs without leaving it.
#include "common/isolation_rootfs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/fs.h"

namespace stdfs = std::filesystem;
using namespace rkt;

namespace {

class TempRoot : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/rkt-rootfs-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        root_ = base_ / "root";
        stdfs::create_directories(root_ / "etc");
        std::ofstream(base_ / "secret") << "host secret\n";
        std::ofstream(root_ / "etc" / "inside") << "inside\n";
        root_fd_ = fs::open_dir(root_);
    }
    void TearDown() override {
        root_fd_.reset();
        stdfs::remove_all(base_);
    }
    std::string error_of(const std::function<void()>& fn) {
        try {
            fn();
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    }
    stdfs::path base_, root_;
    UniqueFd root_fd_;
};

}  // namespace

TEST_F(TempRoot, ReadsFilesInside) {
    EXPECT_EQ(rootfs::read_file(root_fd_.get(), "/etc/inside", 100), "inside\n");
    EXPECT_EQ(rootfs::read_file(root_fd_.get(), "etc/./inside", 100), "inside\n");
    EXPECT_TRUE(rootfs::exists(root_fd_.get(), "/etc/inside"));
    EXPECT_FALSE(rootfs::exists(root_fd_.get(), "/etc/missing"));
    EXPECT_FALSE(rootfs::exists(root_fd_.get(), "/no/such/dir"));
    EXPECT_THROW(rootfs::read_file(root_fd_.get(), "/etc/inside", 3), Error);
}

TEST_F(TempRoot, AbsoluteSymlinksStayInside) {
    // /etc/abs -> /etc/inside must mean the root's /etc/inside, not the host's.
    stdfs::create_symlink("/etc/inside", root_ / "etc" / "abs");
    EXPECT_EQ(rootfs::read_file(root_fd_.get(), "/etc/abs", 100), "inside\n");
    // A link to the host's /etc/passwd resolves to the root's /etc/passwd, which is missing.
    stdfs::create_symlink("/etc/passwd", root_ / "etc" / "host-passwd");
    EXPECT_FALSE(rootfs::exists(root_fd_.get(), "/etc/host-passwd"));
}

TEST_F(TempRoot, DotDotOutOfTheRootIsAnError) {
    stdfs::create_symlink("../../secret", root_ / "etc" / "escape");
    std::string msg = error_of([&] { rootfs::read_file(root_fd_.get(), "/etc/escape", 100); });
    EXPECT_NE(msg.find("leads out of the root"), std::string::npos) << msg;
    EXPECT_NE(msg.find("/etc/escape"), std::string::npos) << msg;
    EXPECT_THROW(rootfs::resolve(root_fd_.get(), "/../secret"), Error);
    // Inside the root, ".." is fine.
    EXPECT_EQ(rootfs::read_file(root_fd_.get(), "/etc/../etc/inside", 100), "inside\n");
}

TEST_F(TempRoot, SymlinkLoopsAreAnError) {
    stdfs::create_symlink("/etc/b", root_ / "etc" / "a");
    stdfs::create_symlink("/etc/a", root_ / "etc" / "b");
    std::string msg = error_of([&] { rootfs::resolve(root_fd_.get(), "/etc/a"); });
    EXPECT_NE(msg.find("too many levels"), std::string::npos) << msg;
}

TEST_F(TempRoot, CreatesMissingDirectoriesWithExactlyTheMode) {
    mode_t old = ::umask(077);
    rootfs::Resolved r = rootfs::resolve(root_fd_.get(), "/a/b/c", rootfs::Create::kDirectory);
    ::umask(old);
    ASSERT_TRUE(r.fd);
    for (const char* dir : {"a", "a/b", "a/b/c"}) {
        struct stat st {};
        ASSERT_EQ(::stat((root_ / dir).c_str(), &st), 0) << dir;
        EXPECT_TRUE(S_ISDIR(st.st_mode)) << dir;
        EXPECT_EQ(st.st_mode & 07777, 0755u) << dir;
    }
}

TEST_F(TempRoot, CreatesFilesThroughSymlinksInside) {
    // Debian's /var/run -> /run: a mount target below it lands in the root's /run.
    stdfs::create_directories(root_ / "run");
    stdfs::create_directories(root_ / "var");
    stdfs::create_symlink("/run", root_ / "var" / "run");
    rootfs::Resolved r = rootfs::resolve(root_fd_.get(), "/var/run/x/file", rootfs::Create::kFile);
    ASSERT_TRUE(r.fd);
    EXPECT_TRUE(stdfs::is_regular_file(root_ / "run" / "x" / "file"));
    EXPECT_EQ(r.name, "file");
}

TEST_F(TempRoot, RefusesToCreateOutside) {
    stdfs::create_symlink("../..", root_ / "up");
    EXPECT_THROW(rootfs::resolve(root_fd_.get(), "/up/created", rootfs::Create::kDirectory), Error);
    EXPECT_FALSE(stdfs::exists(base_ / "created"));
    EXPECT_FALSE(stdfs::exists(base_.parent_path() / "created"));
}

TEST_F(TempRoot, LastSymlinkCanBeLeftAlone) {
    stdfs::create_symlink("/etc/inside", root_ / "link");
    rootfs::Resolved r = rootfs::resolve(root_fd_.get(), "/link", rootfs::Create::kNothing, 0755,
                                         /*follow_last=*/false);
    ASSERT_TRUE(r.fd);
    struct stat st {};
    ASSERT_EQ(::fstat(r.fd.get(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
}

// A NUL byte cut a component short where the kernel saw it: "..\0" passed the ".." check and
// opened the root's parent, and "..\0/x" created x outside the root.
TEST_F(TempRoot, PathsWithNulBytesAreAnError) {
    using namespace std::string_literals;
    for (const std::string& path : {"..\0"s, "/..\0/secret"s, "etc/..\0/..\0/x"s}) {
        for (auto create :
             {rootfs::Create::kNothing, rootfs::Create::kDirectory, rootfs::Create::kFile})
            EXPECT_NE(
                error_of([&] { rootfs::resolve(root_fd_.get(), path, create); }).find("NUL byte"),
                std::string::npos);
    }
    EXPECT_FALSE(stdfs::exists(base_ / "x"));
}
