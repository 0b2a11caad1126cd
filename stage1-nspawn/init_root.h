// The pod init's own root. The pod's PID 1 must hold nothing of the host: an app that may ptrace
// it (CAP_SYS_PTRACE) reaches whatever it holds through /proc/1/root, /proc/1/cwd and
// /proc/1/fd. So once it has forked the apps (which make their mount namespaces from the host's,
// the fast way: README "Processes"), the pod init moves into a mount namespace of its own whose
// root is an empty, read-only tmpfs, and the host's tree is detached from it.
#pragma once

namespace rkt::nspawn {

// unshare(CLONE_NEWNS), an empty read-only tmpfs (nodev, nosuid, noexec) as "/" and the working
// directory, the old root detached. Works as the host's root and as the root of the pod's user
// namespace. Throws an Error.
void enter_empty_root();

}  // namespace rkt::nspawn
