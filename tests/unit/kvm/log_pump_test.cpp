// The pump that copies a VMM's console and messages from pipes into capped files.
#include "stage1-kvm/log_pump.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "common/fs.h"
#include "common/io.h"

namespace rkt::kvm {
namespace {

namespace stdfs = std::filesystem;

class LogPumpTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = stdfs::temp_directory_path() /
               ("rkt-log-pump-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        stdfs::remove_all(dir_);
        stdfs::create_directories(dir_);
    }
    void TearDown() override { stdfs::remove_all(dir_); }
    stdfs::path dir_;
};

TEST_F(LogPumpTest, AFloodLeavesBoundedFilesWithTheNewestBytes) {
    constexpr uint64_t kLimit = uint64_t{64} * 1024;
    int console[2], messages[2];
    ASSERT_EQ(::pipe2(console, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(messages, O_CLOEXEC), 0);
    LogPump pump;
    pump.add(UniqueFd(console[0]), CappedLog::open(dir_ / "console.log", kLimit));
    pump.add(UniqueFd(messages[0]), CappedLog::open(dir_ / "vmm.log", kLimit));
    pump.start();
    // A guest printing much more than the limit, as fast as it can, then its last words.
    std::thread guest([fd = console[1]] {
        std::string chunk(4096, 'x');
        for (int i = 0; i < 200; ++i) ASSERT_TRUE(io::try_write_all(fd, chunk));
        ASSERT_TRUE(io::try_write_all(fd, "Kernel panic - not syncing: the end\n"));
        ::close(fd);
    });
    ASSERT_TRUE(io::try_write_all(messages[1], "qemu: a warning\n"));
    guest.join();
    ::close(messages[1]);
    pump.finish();
    auto size = [&](const char* name) { return stdfs::file_size(dir_ / name); };
    EXPECT_LE(size("console.log"), kLimit);
    EXPECT_LE(size("console.log.1"), kLimit);
    EXPECT_GT(size("console.log.1"), 0u);
    std::string current = fs::read_file(dir_ / "console.log");
    EXPECT_NE(current.find("Kernel panic - not syncing: the end"), std::string::npos);
    EXPECT_EQ(fs::read_file(dir_ / "vmm.log"), "qemu: a warning\n");
}

TEST_F(LogPumpTest, FinishTakesWhatIsLeftEvenWithAWriterStillThere) {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    UniqueFd writer(p[1]);
    LogPump pump;
    pump.add(UniqueFd(p[0]), CappedLog::open(dir_ / "console.log"));
    pump.start();
    ASSERT_TRUE(io::try_write_all(writer.get(), "last line\n"));
    pump.finish();  // must not wait for an end of file that never comes
    EXPECT_EQ(fs::read_file(dir_ / "console.log"), "last line\n");
    pump.finish();
}

}  // namespace
}  // namespace rkt::kvm
