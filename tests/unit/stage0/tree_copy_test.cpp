// Copying an app's tree into a pod (--no-overlay), with owners shifted for --private-users.
#include "stage0/pod/tree_copy.h"

#include <endian.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/id_shift.h"
#include "common/unique_fd.h"

namespace stdfs = std::filesystem;
using namespace rkt;

namespace {

constexpr IdShift kShift{0x10000, 65536};

class TreeCopy : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/rkt-tree-copy-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        src_ = base_ / "src";
        stdfs::create_directories(src_);
        stdfs::create_directories(base_ / "pod");
    }
    void TearDown() override { stdfs::remove_all(base_); }

    TreeCopyStats copy(const TreeCopyOptions& options = {}) {
        UniqueFd src(::open(src_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        UniqueFd pod(::open((base_ / "pod").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        return copy_tree(src.get(), pod.get(), "rootfs", options);
    }
    stdfs::path dst() const { return base_ / "pod" / "rootfs"; }
    void write(const stdfs::path& p, const std::string& text) { std::ofstream(p) << text; }
    static struct stat lstat_of(const stdfs::path& p) {
        struct stat st {};
        EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
        return st;
    }
    static void own(const stdfs::path& p, uid_t uid, gid_t gid) {
        ASSERT_EQ(::lchown(p.c_str(), uid, gid), 0) << p;
    }
    static bool is_root() { return ::geteuid() == 0; }

    stdfs::path base_, src_;
};

std::string read(const stdfs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(IdShiftTest, ParsesAndRefuses) {
    IdShift s = IdShift::parse("65536:65536");
    EXPECT_EQ(s.shift, 65536u);
    EXPECT_EQ(s.count, 65536u);
    EXPECT_EQ(s.to_string(), "65536:65536");
    EXPECT_EQ(s.to_host(1000), 66536u);
    EXPECT_THROW(s.to_host(65536), Error);
    for (const char* bad : {"", "65536", "0:65536", "65536:0", "x:1", "1:x", "-1:5", "4294967295:1",
                            "4294901760:65536", "99999999999:1"})
        EXPECT_THROW(IdShift::parse(bad), Error) << bad;
    EXPECT_NO_THROW(IdShift::parse("2147418112:65536"));  // rkt's largest: 0x7FFF << 16
}

TEST_F(TreeCopy, CopiesContentModesTimesAndXattrs) {
    stdfs::create_directories(src_ / "etc" / "deep");
    write(src_ / "etc" / "passwd", "root:x:0:0::/root:/bin/sh\n");
    write(src_ / "etc" / "deep" / "empty", "");
    std::string big(3 << 20, 'x');
    big[12345] = 'y';
    write(src_ / "big", big);
    ::chmod((src_ / "etc").c_str(), 0710);
    ::chmod((src_ / "etc" / "passwd").c_str(), 0640);
    timespec times[2] = {{1000, 0}, {2000, 500}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (src_ / "etc" / "passwd").c_str(), times, 0), 0);
    ASSERT_EQ(::utimensat(AT_FDCWD, (src_ / "etc").c_str(), times, 0), 0);
    ASSERT_EQ(::mkfifo((src_ / "fifo").c_str(), 0600), 0);
    ASSERT_EQ(::chmod((src_ / "fifo").c_str(), 0620), 0);
    bool xattrs = ::setxattr((src_ / "big").c_str(), "user.rkt-test", "v", 1, 0) == 0;

    TreeCopyStats stats = copy();
    EXPECT_EQ(read(dst() / "etc" / "passwd"), "root:x:0:0::/root:/bin/sh\n");
    EXPECT_EQ(read(dst() / "big"), big);
    EXPECT_EQ(read(dst() / "etc" / "deep" / "empty"), "");
    EXPECT_EQ(lstat_of(dst() / "etc").st_mode & 07777, 0710u);
    EXPECT_EQ(lstat_of(dst() / "etc" / "passwd").st_mode & 07777, 0640u);
    EXPECT_EQ(lstat_of(dst() / "etc" / "passwd").st_mtim.tv_sec, 2000);
    EXPECT_EQ(lstat_of(dst() / "etc" / "passwd").st_mtim.tv_nsec, 500);
    EXPECT_EQ(lstat_of(dst() / "etc").st_mtim.tv_sec, 2000) << "set after its contents";
    EXPECT_TRUE(S_ISFIFO(lstat_of(dst() / "fifo").st_mode));
    EXPECT_EQ(lstat_of(dst() / "fifo").st_mode & 07777, 0620u);
    EXPECT_EQ(stats.files, 3u);
    EXPECT_EQ(stats.directories, 3u);  // the root, etc, etc/deep
    EXPECT_EQ(stats.special, 1u);
    if (xattrs) {
        char v[8] = {};
        EXPECT_EQ(::getxattr((dst() / "big").c_str(), "user.rkt-test", v, sizeof v), 1);
        EXPECT_STREQ(v, "v");
    }
}

TEST_F(TreeCopy, RefusesAnExistingDestinationAndTooDeepTrees) {
    stdfs::create_directories(src_ / "a" / "b" / "c" / "d");
    TreeCopyOptions shallow;
    shallow.max_depth = 3;
    try {
        copy(shallow);
        FAIL() << "a tree deeper than max_depth was copied";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("deeper than 3"), std::string::npos) << e.what();
    }
    EXPECT_THROW(copy(), Error) << "rootfs exists already";
    stdfs::remove_all(dst());
    EXPECT_NO_THROW(copy());
    EXPECT_TRUE(stdfs::is_directory(dst() / "a" / "b" / "c" / "d"));
}

TEST_F(TreeCopy, SymlinksAreCopiedNeverFollowed) {
    stdfs::path outside = base_ / "outside";
    stdfs::create_directories(outside);
    write(outside / "secret", "host secret");
    stdfs::create_directory_symlink(outside, src_ / "dir-link");
    stdfs::create_symlink(outside / "secret", src_ / "file-link");
    stdfs::create_symlink("../../../../etc/shadow", src_ / "climbing");
    stdfs::create_symlink("dangling/nowhere", src_ / "dangling");

    TreeCopyStats stats = copy();
    EXPECT_EQ(stats.symlinks, 4u);
    EXPECT_EQ(stats.files, 0u) << "nothing behind a symlink was copied";
    EXPECT_TRUE(stdfs::is_symlink(dst() / "dir-link"));
    EXPECT_EQ(stdfs::read_symlink(dst() / "dir-link"), outside);
    EXPECT_EQ(stdfs::read_symlink(dst() / "file-link"), outside / "secret");
    EXPECT_EQ(stdfs::read_symlink(dst() / "climbing"), "../../../../etc/shadow");
    EXPECT_EQ(stdfs::read_symlink(dst() / "dangling"), "dangling/nowhere");
    EXPECT_EQ(read(outside / "secret"), "host secret");
    EXPECT_EQ(std::distance(stdfs::directory_iterator(outside), {}), 1)
        << "nothing written outside";
}

TEST_F(TreeCopy, HardLinksStayLinks) {
    stdfs::create_directories(src_ / "bin");
    stdfs::create_directories(src_ / "sbin");
    write(src_ / "bin" / "busybox", "#!binary");
    stdfs::create_hard_link(src_ / "bin" / "busybox", src_ / "bin" / "sh");
    stdfs::create_hard_link(src_ / "bin" / "busybox", src_ / "sbin" / "init");

    TreeCopyStats stats = copy();
    EXPECT_EQ(stats.files, 1u);
    EXPECT_EQ(stats.hard_links, 2u);
    struct stat a = lstat_of(dst() / "bin" / "busybox"), b = lstat_of(dst() / "bin" / "sh"),
                c = lstat_of(dst() / "sbin" / "init");
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_ino, c.st_ino);
    EXPECT_EQ(a.st_nlink, 3u);
    EXPECT_NE(a.st_ino, lstat_of(src_ / "bin" / "busybox").st_ino)
        << "a copy, not a link to the store";
    EXPECT_EQ(read(dst() / "sbin" / "init"), "#!binary");
}

TEST_F(TreeCopy, KeepsOwnersWithoutShift) {
    if (!is_root()) GTEST_SKIP() << "needs root (chown)";
    write(src_ / "f", "x");
    own(src_ / "f", 1000, 1001);
    copy();
    EXPECT_EQ(lstat_of(dst() / "f").st_uid, 1000u);
    EXPECT_EQ(lstat_of(dst() / "f").st_gid, 1001u);
    EXPECT_EQ(lstat_of(dst()).st_uid, 0u);
}

TEST_F(TreeCopy, ShiftsEveryOwner) {
    if (!is_root()) GTEST_SKIP() << "needs root (chown, mknod)";
    stdfs::create_directories(src_ / "home" / "user");
    write(src_ / "home" / "user" / "f", "x");
    write(src_ / "setuid", "x");
    own(src_ / "home" / "user", 1000, 1000);
    own(src_ / "home" / "user" / "f", 1000, 100);
    stdfs::create_symlink("f", src_ / "home" / "user" / "link");
    own(src_ / "home" / "user" / "link", 1000, 1001);
    ::chmod((src_ / "setuid").c_str(), 04755);
    ASSERT_EQ(::mknod((src_ / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
    own(src_ / "null", 0, 5);
    own(src_ / "home", 65535, 65535);

    TreeCopyOptions o;
    o.shift = kShift;
    copy(o);
    auto owner = [&](const stdfs::path& p) {
        struct stat st = lstat_of(p);
        return std::make_pair(st.st_uid, st.st_gid);
    };
    EXPECT_EQ(owner(dst()), std::make_pair(65536u, 65536u));
    EXPECT_EQ(owner(dst() / "home"), std::make_pair(131071u, 131071u));
    EXPECT_EQ(owner(dst() / "home" / "user"), std::make_pair(66536u, 66536u));
    EXPECT_EQ(owner(dst() / "home" / "user" / "f"), std::make_pair(66536u, 65636u));
    EXPECT_EQ(owner(dst() / "home" / "user" / "link"), std::make_pair(66536u, 66537u))
        << "the symlink itself, not its target";
    EXPECT_EQ(owner(dst() / "setuid"), std::make_pair(65536u, 65536u));
    EXPECT_EQ(lstat_of(dst() / "setuid").st_mode & 07777, 04755u)
        << "set-id bits survive the chown";
    struct stat null = lstat_of(dst() / "null");
    EXPECT_TRUE(S_ISCHR(null.st_mode));
    EXPECT_EQ(null.st_rdev, makedev(1, 3));
    EXPECT_EQ(owner(dst() / "null"), std::make_pair(65536u, 65541u));
    EXPECT_EQ(owner(src_ / "home" / "user" / "f"), std::make_pair(1000u, 100u))
        << "source untouched";
}

TEST_F(TreeCopy, AnOwnerOutsideTheRangeIsAnError) {
    if (!is_root()) GTEST_SKIP() << "needs root (chown)";
    stdfs::create_directories(src_ / "d");
    write(src_ / "d" / "f", "x");
    own(src_ / "d" / "f", 70000, 0);
    TreeCopyOptions o;
    o.shift = kShift;
    try {
        copy(o);
        FAIL() << "an owner outside 0-65535 was shifted";
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("/d/f"), std::string::npos) << m;
        EXPECT_NE(m.find("70000"), std::string::npos) << m;
        EXPECT_NE(m.find("outside"), std::string::npos) << m;
    }
    // The largest shift rkt draws plus the largest id still fits in 32 bits.
    own(src_ / "d" / "f", 65535, 65535);
    stdfs::remove_all(dst());
    o.shift = IdShift{0x7FFF0000, 65536};
    copy(o);
    EXPECT_EQ(lstat_of(dst() / "d" / "f").st_uid, 0x7FFFFFFFu);
}

TEST_F(TreeCopy, ShiftsFileCapabilitiesAndAcls) {
    if (!is_root()) GTEST_SKIP() << "needs root (security.capability)";
    write(src_ / "ping", "x");
    vfs_cap_data v2{};
    v2.magic_etc = htole32(VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE);
    v2.data[0].permitted = htole32(1u << CAP_NET_RAW);
    ASSERT_EQ(::setxattr((src_ / "ping").c_str(), "security.capability", &v2, XATTR_CAPS_SZ_2, 0),
              0);
    // An ACL naming user 1000 (version 2; USER_OBJ, USER 1000, GROUP_OBJ, MASK, OTHER).
    struct {
        uint32_t version;
        struct {
            uint16_t tag, perm;
            uint32_t id;
        } e[5];
    } acl{htole32(2),
          {{htole16(0x01), htole16(6), htole32(~0u)},
           {htole16(0x02), htole16(4), htole32(1000)},
           {htole16(0x04), htole16(4), htole32(~0u)},
           {htole16(0x10), htole16(4), htole32(~0u)},
           {htole16(0x20), htole16(0), htole32(~0u)}}};
    bool acls =
        ::setxattr((src_ / "ping").c_str(), "system.posix_acl_access", &acl, sizeof acl, 0) == 0;

    TreeCopyOptions o;
    o.shift = kShift;
    copy(o);
    vfs_ns_cap_data v3{};
    ASSERT_EQ(::getxattr((dst() / "ping").c_str(), "security.capability", &v3, sizeof v3),
              static_cast<ssize_t>(XATTR_CAPS_SZ_3));
    EXPECT_EQ(le32toh(v3.magic_etc), VFS_CAP_REVISION_3 | VFS_CAP_FLAGS_EFFECTIVE);
    EXPECT_EQ(le32toh(v3.data[0].permitted), 1u << CAP_NET_RAW);
    EXPECT_EQ(le32toh(v3.rootid), kShift.shift) << "the capability belongs to the pod's root";
    if (acls) {
        decltype(acl) out{};
        ASSERT_EQ(::getxattr((dst() / "ping").c_str(), "system.posix_acl_access", &out, sizeof out),
                  static_cast<ssize_t>(sizeof out));
        EXPECT_EQ(le32toh(out.e[1].id), kShift.shift + 1000);
    }
}

TEST_F(TreeCopy, SocketsAndDevicesAreMadeNotOpened) {
    if (!is_root()) GTEST_SKIP() << "needs root (mknod)";
    // A block device node in a hostile image: made again (same numbers), never opened.
    ASSERT_EQ(::mknod((src_ / "disk").c_str(), S_IFBLK | 0600, makedev(7, 250)), 0);
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(s, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = (src_ / "sock").string();
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(s);
    TreeCopyStats stats = copy();
    EXPECT_EQ(stats.special, 2u);
    EXPECT_TRUE(S_ISBLK(lstat_of(dst() / "disk").st_mode));
    EXPECT_EQ(lstat_of(dst() / "disk").st_rdev, makedev(7, 250));
    EXPECT_TRUE(S_ISSOCK(lstat_of(dst() / "sock").st_mode));
}

}  // namespace
