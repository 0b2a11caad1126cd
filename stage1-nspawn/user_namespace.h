// The pod's user namespace (rkt run --private-users): the pod's ids 0..COUNT-1 are the host's
// SHIFT..SHIFT+COUNT-1, so the pod's root is an unprivileged host uid.
//
// `run` must keep the host's privileges (cgroups, the pod directory, networking), so it never
// enters the namespace itself: a short-lived helper child creates it together with a PID
// namespace it owns, `run` writes the helper's uid_map and gid_map ("0 SHIFT COUNT") and keeps a
// descriptor of each namespace, and the pod init is forked into the PID namespace and then joins
// the user namespace as its root. Every namespace the pod init makes afterwards (UTS, IPC,
// network, the apps' mount namespaces) belongs to the user namespace, so the pod's root can
// mount its /proc and /sys there and nothing on the host.
#pragma once

#include "common/id_shift.h"
#include "common/unique_fd.h"

namespace rkt::nspawn {

class PodUserNamespace {
public:
    static PodUserNamespace create(const IdShift& ids);

    int user_ns() const { return user_.get(); }
    int pid_ns() const { return pid_.get(); }  // owned by user_ns()
    const IdShift& ids() const { return ids_; }

private:
    IdShift ids_;
    UniqueFd user_, pid_;
};

// In a freshly forked child of `run`: joins the user namespace and becomes its root (uid and
// gid 0, no supplementary groups), with every capability there and none on the host.
void become_namespace_root(int user_ns_fd);

// Whether user namespaces can be made here; the reason when they cannot.
const char* user_namespaces_unavailable();

}  // namespace rkt::nspawn
