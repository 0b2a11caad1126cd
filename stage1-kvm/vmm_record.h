// `vmm.json` in the pod directory: which process is the pod's VMM (QEMU, or the built-in VMM's
// process), so that `gc` can end one that outlived its run process — identified by pid, start
// time and uid together, so a pid used again by another process is never touched.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>

namespace rkt::kvm {

inline constexpr const char* kVmmRecordName = "vmm.json";

struct VmmRecord {
    pid_t pid = 0;
    uint64_t start_time = 0;  // /proc/<pid>/stat's starttime (clock ticks after boot)
    uint32_t uid = 0;
};

// The record of a running process `pid` (its start time and real uid read now). Throws
// rkt::Error when the process is gone.
VmmRecord record_of(pid_t pid);

// Writes `pod_dir`/vmm.json. Throws rkt::Error.
void write_vmm_record(const std::filesystem::path& pod_dir, const VmmRecord& record);

// The record, if the file is there and well formed.
std::optional<VmmRecord> read_vmm_record(const std::filesystem::path& pod_dir);

// Whether the recorded process still runs: the same pid, start time and uid.
bool is_running(const VmmRecord& record);

}  // namespace rkt::kvm
