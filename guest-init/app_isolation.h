// An app's isolation inside the VM: the PodSpec's IsolationSettings become the shared
// common/isolation Policy (the same code the nspawn stage1 applies on the host), and its user
// and groups are resolved in the app's image, which only the guest has mounted.
#pragma once

#include <string>

#include "common/guest_protocol.h"
#include "common/guest_protocol/isolation_policy.h"
#include "common/isolation.h"

namespace rkt::guest_init {

// The policy of the settings: guest::policy_from_settings (common/guest_protocol/
// isolation_policy.h).
using guest::policy_from_settings;

// The app's user, group and supplementary groups: numbers, or names from the image's
// /etc/passwd and /etc/group (read inside `rootfs`), as appc defines them. Throws rkt::Error.
isolation::Identity resolve_app_identity(const guest::GuestApp& app, const std::string& rootfs);

// Everything that allocates, before fork: the policy, the identity, the seccomp program.
isolation::PreparedIsolation prepare_app_isolation(const guest::GuestApp& app,
                                                   const std::string& rootfs);

}  // namespace rkt::guest_init
