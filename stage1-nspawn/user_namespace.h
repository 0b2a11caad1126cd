// The pod's user namespace (rkt run --private-users): the pod's ids 0..COUNT-1 are the host's
// SHIFT..SHIFT+COUNT-1, so the pod's root is an unprivileged host uid.
//
// `run` keeps the host's privileges (cgroups, the pod directory, networking) and never enters
// the namespace. The pod init is cloned straight into a new user namespace and a new PID
// namespace owned by it; `run` writes its uid_map and gid_map ("0 SHIFT COUNT") and then lets it
// become the namespace's root. Every namespace the pod init makes afterwards (UTS, IPC,
// network, the apps' mount namespaces) belongs to the user namespace, so the pod's root can
// mount its /proc and /sys there and nothing on the host.
#pragma once

#include <sys/types.h>

#include "common/id_shift.h"

namespace rkt::nspawn {

// Like fork(), but the child is PID 1 of a new PID namespace in a new user namespace mapped by
// `ids`, and runs as that namespace's root (uid and gid 0, no supplementary groups, every
// capability there and none on the host). Returns the child's (host) pid in the parent and 0 in
// the child. A child that cannot become root prints why and exits 254.
//
// The child comes from the clone system call, not glibc's fork: it must not use raise(),
// abort() or pthread_kill() on itself (glibc's cached thread id is the parent's). Exiting,
// allocating, forking further and throwing are fine.
pid_t fork_into_user_namespace(const IdShift& ids);

// Why user namespaces cannot be made here, or nullptr.
const char* user_namespaces_unavailable();

}  // namespace rkt::nspawn
