// The run process's control socket, `kvm-control.sock` in the pod directory: `stop` and
// `enter` connect to it and speak guest protocol frames (StopPod; Exec, ExecSignal), which the
// run process acts on or relays to the guest. Entrypoints run in the pod directory, so the
// socket is named relative to it (no limit on the pod directory's path length).
#pragma once

#include "common/unique_fd.h"

namespace rkt::kvm {

inline constexpr const char* kControlSocketName = "kvm-control.sock";

// Listens on the control socket in the current directory (mode 0600), replacing a stale one.
UniqueFd listen_control_socket();
// Connects to the control socket in the current directory; an invalid fd when nothing listens.
UniqueFd connect_control_socket();
// True when the peer of a connected control socket is root or this process's user.
bool peer_is_trusted(int fd);

}  // namespace rkt::kvm
