#include "common/capped_log.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/fs.h"
#include "common/io.h"

namespace stdfs = std::filesystem;

namespace {

struct CappedLogTest : ::testing::Test {
    stdfs::path dir;
    void SetUp() override {
        char tmpl[] = "/tmp/capped-log-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
    }
    void TearDown() override { stdfs::remove_all(dir); }
    std::string read(const char* name) { return rkt::fs::read_file(dir / name); }
};

TEST_F(CappedLogTest, KeepsTheNewestOutputWithinTwiceTheLimit) {
    auto log = rkt::CappedLog::open(dir / "app.log", 10);
    EXPECT_TRUE(log.write("0123456"));
    EXPECT_TRUE(log.write("789"));  // exactly the limit: no rotation yet
    EXPECT_EQ(read("app.log"), "0123456789");
    EXPECT_TRUE(log.write("abc"));  // would pass it: the old content moves to .1
    EXPECT_EQ(read("app.log.1"), "0123456789");
    EXPECT_EQ(read("app.log"), "abc");
    EXPECT_TRUE(log.write("defghijkl"));
    EXPECT_EQ(read("app.log.1"), "abc");
    EXPECT_EQ(read("app.log"), "defghijkl");
}

TEST_F(CappedLogTest, AWriteLongerThanTheLimitKeepsItsEnd) {
    auto log = rkt::CappedLog::open(dir / "app.log", 4);
    EXPECT_TRUE(log.write("ab"));
    EXPECT_TRUE(log.write("0123456789"));
    EXPECT_EQ(read("app.log"), "6789");
    EXPECT_EQ(read("app.log.1"), "ab");
}

TEST_F(CappedLogTest, AFloodStaysBounded) {
    auto log = rkt::CappedLog::open(dir / "app.log", uint64_t{64} << 10);
    std::string chunk(4096, 'x');
    for (int i = 0; i < 2000; ++i) ASSERT_TRUE(log.write(chunk));  // 8 MB written
    EXPECT_LE(stdfs::file_size(dir / "app.log"), 64u * 1024);
    EXPECT_LE(stdfs::file_size(dir / "app.log.1"), 64u * 1024);
}

TEST_F(CappedLogTest, ReopeningContinuesFromTheFileSize) {
    rkt::fs::write_file(dir / "app.log", "12345678");
    auto log = rkt::CappedLog::open(dir / "app.log", 10);
    EXPECT_EQ(log.size(), 8u);
    EXPECT_TRUE(log.write("abc"));
    EXPECT_EQ(read("app.log.1"), "12345678");
    EXPECT_EQ(read("app.log"), "abc");
}

TEST_F(CappedLogTest, WorksOnDescriptorsAlone) {
    // As an nspawn pod init in a user namespace holds them: opened elsewhere, no path.
    rkt::UniqueFd cur(::open((dir / "a").c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    rkt::UniqueFd prev(::open((dir / "b").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    rkt::CappedLog log(std::move(cur), std::move(prev), 3);
    EXPECT_TRUE(log.write("abc"));
    EXPECT_TRUE(log.write("d"));
    EXPECT_EQ(read("b"), "abc");
    EXPECT_EQ(read("a"), "d");
}

TEST_F(CappedLogTest, RefusesASymlinkInPlaceOfTheLog) {
    stdfs::create_symlink("/etc/passwd", dir / "app.log");
    EXPECT_ANY_THROW(rkt::CappedLog::open(dir / "app.log", 10));
}

TEST(Io, TryWriteAllReportsAClosedPipe) {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    ::close(p[0]);
    ::signal(SIGPIPE, SIG_IGN);
    EXPECT_FALSE(rkt::io::try_write_all(p[1], "x"));
    EXPECT_EQ(errno, EPIPE);
    ::close(p[1]);
}

TEST(Io, WriteAllWritesMoreThanAPipeHolds) {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    std::string big(1 << 20, 'y');
    pid_t child = ::fork();
    if (child == 0) {
        ::close(p[1]);
        char buf[4096];
        size_t total = 0;
        for (ssize_t n; (n = rkt::io::read_some(p[0], buf, sizeof buf)) != 0;)
            if (n > 0) total += static_cast<size_t>(n);
        ::_exit(total == (1u << 20) ? 0 : 1);
    }
    ::close(p[0]);
    rkt::io::write_all(p[1], big, "the pipe");
    ::close(p[1]);
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
