// The pod init's own root (init_root.h), for real in a child: an empty, read-only tmpfs, and
// the host's tree out of reach; the parent's mounts untouched.
#include "stage1-nspawn/init_root.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <linux/magic.h>
#include <cerrno>

#include "common/error.h"

using namespace rkt::nspawn;

TEST(InitRoot, AnEmptyReadOnlyTmpfsOfItsOwn) {
    if (::geteuid() != 0) GTEST_SKIP() << "making a mount namespace needs root";
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        try {
            enter_empty_root();
        } catch (const rkt::Error&) {
            ::_exit(10);
        }
        struct statfs sfs {};
        if (::statfs("/", &sfs) != 0 || sfs.f_type != TMPFS_MAGIC) ::_exit(11);
        DIR* dir = ::opendir("/");
        if (!dir) ::_exit(12);
        int entries = 0;
        while (dirent* e = ::readdir(dir))
            if (e->d_name[0] != '.') ++entries;
        ::closedir(dir);
        if (entries != 0) ::_exit(13);
        if (::mkdir("/x", 0755) == 0 || errno != EROFS) ::_exit(14);
        struct stat st {};
        if (::stat("/../../proc/self", &st) == 0 || ::stat("/etc/passwd", &st) == 0) ::_exit(15);
        char cwd[64] = {};
        if (!::getcwd(cwd, sizeof cwd) || std::string(cwd) != "/") ::_exit(16);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0)
        << "10: failed, 11: not a tmpfs, 12-13: not empty, 14: writable, 15: host visible, 16: cwd";
    struct stat st {};
    EXPECT_EQ(::stat("/proc/self", &st), 0) << "the parent's root is as it was";
}
