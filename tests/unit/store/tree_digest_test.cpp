// tree_digest: the same tree gives the same digest whatever the order it was made in, and any
// change the digest covers (content, type, mode, owner, symlink target, a name) changes it.
#include "stage0/store/tree_digest.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "store_test_util.h"

namespace rkt::store::testing {
namespace {

class TreeDigestTest : public StoreTest {
protected:
    // A small tree; `reverse` makes its entries in the other order.
    stdfs::path make_tree(const std::string& name, bool reverse = false) {
        stdfs::path root = tmp_ / name;
        fs::make_dirs(root);
        ::chmod(root.c_str(), 0755);
        auto a = [&] {
            fs::make_dirs(root / "etc");
            fs::write_file(root / "etc" / "motd", "hello\n", 0644);
            fs::write_file(root / "etc" / "passwd", "root:x:0:0::/root:/bin/sh\n", 0600);
        };
        auto b = [&] {
            fs::make_dirs(root / "bin");
            fs::write_file(root / "bin" / "sh", "#!binary", 0755);
            stdfs::create_symlink("sh", root / "bin" / "ash");
            stdfs::create_symlink("/etc", root / "outside");
        };
        if (reverse) {
            b();
            a();
        } else {
            a();
            b();
        }
        return root;
    }
};

TEST_F(TreeDigestTest, DeterministicAndOrderFree) {
    stdfs::path one = make_tree("one");
    stdfs::path two = make_tree("two", true);
    std::string d = tree_digest(one);
    EXPECT_TRUE(is_valid_tree_digest(d)) << d;
    EXPECT_EQ(d, tree_digest(one));
    EXPECT_EQ(d, tree_digest(two));
}

TEST_F(TreeDigestTest, TimesDoNotCount) {
    stdfs::path t = make_tree("t");
    std::string d = tree_digest(t);
    struct timespec times[2] = {{1, 0}, {1, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (t / "etc" / "motd").c_str(), times, 0), 0);
    EXPECT_EQ(tree_digest(t), d);
}

TEST_F(TreeDigestTest, ChangesWithContent) {
    stdfs::path t = make_tree("t");
    std::string d = tree_digest(t);
    fs::write_file(t / "etc" / "motd", "hellO\n", 0644);
    EXPECT_NE(tree_digest(t), d);
}

TEST_F(TreeDigestTest, ChangesWithMode) {
    stdfs::path t = make_tree("t");
    std::string d = tree_digest(t);
    ASSERT_EQ(::chmod((t / "bin" / "sh").c_str(), 04755), 0);
    EXPECT_NE(tree_digest(t), d);
    ASSERT_EQ(::chmod((t / "bin" / "sh").c_str(), 0755), 0);
    EXPECT_EQ(tree_digest(t), d);
    ASSERT_EQ(::chmod(t.c_str(), 0700), 0);  // the root's own mode counts too
    EXPECT_NE(tree_digest(t), d);
}

TEST_F(TreeDigestTest, ChangesWithOwner) {
    if (::geteuid() != 0) GTEST_SKIP() << "changing owners needs root";
    stdfs::path t = make_tree("t");
    std::string d = tree_digest(t);
    ASSERT_EQ(::lchown((t / "etc" / "passwd").c_str(), 1000, 0), 0);
    std::string uid_changed = tree_digest(t);
    EXPECT_NE(uid_changed, d);
    ASSERT_EQ(::lchown((t / "etc" / "passwd").c_str(), 0, 1000), 0);
    EXPECT_NE(tree_digest(t), d);
    EXPECT_NE(tree_digest(t), uid_changed);
    ASSERT_EQ(::lchown((t / "bin" / "ash").c_str(), 0, 0), 0);
    ASSERT_EQ(::lchown((t / "etc" / "passwd").c_str(), 0, 0), 0);
    EXPECT_EQ(tree_digest(t), d);
    ASSERT_EQ(::lchown((t / "bin" / "ash").c_str(), 5, 5), 0);  // the link itself, not its target
    EXPECT_NE(tree_digest(t), d);
}

TEST_F(TreeDigestTest, ChangesWithSymlinkTargetAndType) {
    stdfs::path t = make_tree("t");
    std::string d = tree_digest(t);
    stdfs::remove(t / "bin" / "ash");
    stdfs::create_symlink("./sh", t / "bin" / "ash");
    std::string retargeted = tree_digest(t);
    EXPECT_NE(retargeted, d);
    // A regular file with the link's target as content is not the link.
    stdfs::remove(t / "bin" / "ash");
    fs::write_file(t / "bin" / "ash", "./sh", 0777);
    EXPECT_NE(tree_digest(t), retargeted);
}

TEST_F(TreeDigestTest, ChangesWithNamesAndEmptyEntries) {
    stdfs::path t = make_tree("t");
    std::string d = tree_digest(t);
    fs::make_dirs(t / "empty");
    std::string with_dir = tree_digest(t);
    EXPECT_NE(with_dir, d);
    stdfs::remove(t / "empty");
    fs::write_file(t / "empty", "", 0755);
    EXPECT_NE(tree_digest(t), with_dir);
    stdfs::remove(t / "empty");
    EXPECT_EQ(tree_digest(t), d);
    stdfs::rename(t / "etc" / "motd", t / "etc" / "motD");
    EXPECT_NE(tree_digest(t), d);
}

TEST_F(TreeDigestTest, NeverFollowsSymlinks) {
    stdfs::path t = make_tree("t");
    // "outside" points at /etc; a link to a directory of ours must not be walked either.
    fs::make_dirs(tmp_ / "elsewhere");
    fs::write_file(tmp_ / "elsewhere" / "f", "1");
    stdfs::create_symlink(tmp_ / "elsewhere", t / "away");
    std::string d = tree_digest(t);
    fs::write_file(tmp_ / "elsewhere" / "f", "2");
    fs::write_file(tmp_ / "elsewhere" / "g", "3");
    EXPECT_EQ(tree_digest(t), d);
    // Nor is the root itself a symlink it follows.
    stdfs::create_symlink(t, tmp_ / "root-link");
    EXPECT_THROW(tree_digest(tmp_ / "root-link"), Error);
}

TEST_F(TreeDigestTest, SpecialFilesCount) {
    stdfs::path t = make_tree("t");
    std::string d = tree_digest(t);
    ASSERT_EQ(::mkfifo((t / "fifo").c_str(), 0600), 0);
    std::string with_fifo = tree_digest(t);  // reading it would block: it is never opened
    EXPECT_NE(with_fifo, d);
    if (::geteuid() == 0) {
        stdfs::remove(t / "fifo");
        ASSERT_EQ(::mknod((t / "fifo").c_str(), S_IFCHR | 0600, makedev(1, 3)), 0);
        std::string null_dev = tree_digest(t);
        EXPECT_NE(null_dev, with_fifo);
        stdfs::remove(t / "fifo");
        ASSERT_EQ(::mknod((t / "fifo").c_str(), S_IFCHR | 0600, makedev(1, 5)), 0);
        EXPECT_NE(tree_digest(t), null_dev);
    }
}

}  // namespace
}  // namespace rkt::store::testing
