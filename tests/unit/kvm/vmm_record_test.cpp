// vmm.json: how gc knows the pod's VMM, and never mistakes another process for it.
#include "stage1-kvm/vmm_record.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "common/fs.h"

namespace rkt::kvm {
namespace {

namespace stdfs = std::filesystem;

TEST(VmmRecord, NamesAProcessByPidStartTimeAndUid) {
    stdfs::path dir =
        stdfs::temp_directory_path() / ("rkt-vmm-record-" + std::to_string(::getpid()));
    stdfs::remove_all(dir);
    stdfs::create_directories(dir);
    VmmRecord me = record_of(::getpid());
    EXPECT_EQ(me.uid, ::getuid());
    EXPECT_GT(me.start_time, 0u);
    write_vmm_record(dir, me);
    auto back = read_vmm_record(dir);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->pid, me.pid);
    EXPECT_EQ(back->start_time, me.start_time);
    EXPECT_TRUE(is_running(*back));
    // The same pid started at another time, or under another user, is someone else.
    VmmRecord other = me;
    other.start_time += 1;
    EXPECT_FALSE(is_running(other));
    other = me;
    other.uid += 1;
    EXPECT_FALSE(is_running(other));
    // A process that is gone.
    pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    VmmRecord gone = record_of(child);
    ::waitpid(child, nullptr, 0);
    EXPECT_FALSE(is_running(gone));
    // Garbage in the file is no record.
    fs::write_file(dir / kVmmRecordName, "{\"pid\": \"1\"}");
    EXPECT_FALSE(read_vmm_record(dir));
    fs::write_file(dir / kVmmRecordName, "{\"pid\": 1, \"startTime\": 5, \"uid\": 0}");
    EXPECT_FALSE(read_vmm_record(dir));  // pid 1 is never a pod's VMM
    stdfs::remove_all(dir);
}

}  // namespace
}  // namespace rkt::kvm
