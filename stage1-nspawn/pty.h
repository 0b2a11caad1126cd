// Pseudo terminals of a pod. A process of the pod must never hold a terminal of the host: it
// could read what the admin types after `rkt enter` or `rkt run --interactive` returned (or
// push input with TIOCSTI). So an interactive app, or a command `enter` runs on a terminal, gets
// a terminal of the pod's own devpts; the stage1, outside the pod, copies between it and the
// host's terminal, which it puts in raw mode meanwhile (as `docker exec -t` does).
#pragma once

#include <termios.h>

#include "common/unique_fd.h"

namespace rkt::nspawn {

struct Pty {
    UniqueFd master;  // for the stage1's copy loop
    UniqueFd slave;   // the pod process's terminal
};

// Opens the ptmx of the devpts mounted at `dev_pts_dir` (a directory descriptor, resolved by
// the caller inside the app's root) and returns a new terminal pair; the slave is opened from
// the master (TIOCGPTPEER), not by a path the pod could change. Refuses a `pts/ptmx` that is not
// a devpts's ptmx. Throws an Error.
Pty open_pty(int dev_pts_dir);

// In the child that runs in the terminal: a new session whose controlling terminal is `slave`,
// which becomes its standard input, output and error. Returns false (errno set) on failure; it
// allocates nothing.
bool attach_terminal(int slave) noexcept;

// Puts a terminal in raw mode for as long as it lives, and restores what it was on every way out
// (return, exception). Does nothing when `fd` is not a terminal.
class RawTerminal {
public:
    explicit RawTerminal(int fd);
    ~RawTerminal();
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;

private:
    int fd_ = -1;
    bool saved_ = false;
    termios original_{};
};

// Gives `to` (a pty master) the window size of the terminal `from`; nothing when `from` is not a
// terminal.
void copy_window_size(int from, int to) noexcept;

// Passes a descriptor over a unix socket (SCM_RIGHTS): the app's process hands its terminal's
// master to `run`, outside the pod. Both throw an Error; receive_fd returns an invalid
// descriptor at end of file.
void send_fd(int socket, int fd);
UniqueFd receive_fd(int socket);

}  // namespace rkt::nspawn
