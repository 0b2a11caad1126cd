// Copying between the pod and the host for the stage1's processes outside the pod (`run`,
// `enter`): what a pod process writes (a pipe or a pty master, non-blocking, the pod's side) goes
// to a host descriptor (stdout, stderr, blocking: the reader there sets the pace) and maybe a
// log; what the host sends (stdin) goes into the pod without ever blocking the loop on a pod that
// does not read. Host descriptors are never made non-blocking: their open file is shared with
// the caller's shell.
#pragma once

#include <poll.h>

#include <string>

#include "common/capped_log.h"
#include "common/unique_fd.h"

namespace rkt::nspawn {

// From the pod to the host.
class Outbound {
public:
    Outbound() = default;
    // `from` is made non-blocking; `log` (may be null) must outlive this.
    Outbound(int from, int to, CappedLog* log = nullptr);

    bool open() const { return from_ >= 0; }
    int fd() const { return from_; }
    // The host side refused a write (a reader that went away: EPIPE).
    bool host_gone() const { return host_gone_; }
    // Copies no more (the owner of `from` closes it).
    void stop() { from_ = -1; }
    // Copies what is readable now; false when nothing was. At end of file (or EIO: a pty master
    // whose slaves are all closed) the stream is over: open() turns false. Output to the host is
    // best effort: a host reader that went away does not stop the pod.
    bool copy_available();
    // Copies until nothing more is readable now (at most a few MiB: what a pipe or pty holds).
    void drain();

private:
    int from_ = -1;
    int to_ = -1;
    CappedLog* log_ = nullptr;
    bool host_gone_ = false;
};

// From the host into the pod.
class Inbound {
public:
    Inbound() = default;
    // Into a pipe, which is closed at the end of `from`: the app sees end of file.
    Inbound(int from, UniqueFd to);
    // Into a pty master, which stays open (the output side reads it). `to` is made non-blocking.
    Inbound(int from, int to);

    bool open() const { return from_ >= 0 || !pending_.empty(); }
    // What to poll for: input when nothing is pending, room in `to` otherwise.
    pollfd poll_entry() const;
    void ready(short revents);
    // The pod side went away (the app ended): stop copying.
    void close();

private:
    void end_of_input();
    int from_ = -1;
    int to_ = -1;
    UniqueFd owned_to_;  // the pipe, when `to` is one
    std::string pending_;
};

}  // namespace rkt::nspawn
