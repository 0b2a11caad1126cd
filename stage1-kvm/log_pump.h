// Copies what a VMM writes into pipes — the guest's console, the VMM's own messages — to capped
// log files (common/capped_log.h: rotation to <file>.1 at 8 MiB), on a thread of its own, so
// that nothing a guest prints can fill the host's disk, and a VMM writing faster than the disk
// takes it waits on its pipe instead.
#pragma once

#include <thread>
#include <vector>

#include "common/capped_log.h"
#include "common/unique_fd.h"

namespace rkt::kvm {

class LogPump {
public:
    LogPump() = default;
    LogPump(const LogPump&) = delete;
    LogPump& operator=(const LogPump&) = delete;
    ~LogPump();

    // Before start(): `pipe` (the read end) is copied into `log`.
    void add(UniqueFd pipe, CappedLog log);
    void start();
    // Once the writers are gone (the VMM was reaped): copies what is left in the pipes, then
    // stops the thread. Idempotent; also called by the destructor.
    void finish();

private:
    struct Stream {
        UniqueFd pipe;
        CappedLog log;
        bool open = true;
    };
    void loop();
    // One read from `s` into its log; false at end of file (or a read error).
    static bool copy_some(Stream& s);

    std::vector<Stream> streams_;
    UniqueFd stop_;
    std::thread thread_;
};

}  // namespace rkt::kvm
