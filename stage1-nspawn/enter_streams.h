// The standard streams of the command `enter` runs in a pod. Never the caller's own: a process
// of the pod could open /proc/<pid>/fd/0 of the command (or /dev/tty, its controlling terminal)
// and read what the admin types after `enter` returned. On a terminal the command gets a new
// terminal of the app's devpts (and its own session), else pipes; `enter`, outside the pod,
// copies between them and its own streams, its terminal in raw mode meanwhile.
#pragma once

#include <sys/types.h>

#include <optional>

#include "common/unique_fd.h"
#include "stage1-nspawn/pty.h"

namespace rkt::nspawn {

class EnterStreams {
public:
    // Call inside the app's mount namespace (its root is "/"). `owner`: the host uid the
    // command's terminal is given to (the app's user). Throws an Error.
    static EnterStreams open(bool terminal, std::optional<uid_t> owner);

    // In the child, before it drops privileges: its session, terminal or pipes as 0, 1 and 2.
    // False (errno set) on failure; allocates nothing.
    bool attach_in_child() noexcept;

    // In `enter`, once the child is forked: copies until the child has ended, then what it left
    // in the streams; returns its exit code. Signals to `enter` (SIGTERM, SIGHUP, SIGINT,
    // SIGQUIT) go to the child. Block supervisor-style signals before forking (signals()).
    int relay(pid_t child);

    // What relay() handles; block them before fork (the child unblocks its own).
    static sigset_t signals();

private:
    bool terminal_ = false;
    Pty pty_;
    UniqueFd in_r_, in_w_, out_r_, out_w_, err_r_, err_w_;
};

}  // namespace rkt::nspawn
