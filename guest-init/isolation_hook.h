// The one place where an app's isolation settings are applied, in the app's child process after
// its root is in place and just before exec. The order matters and lives here:
//   masked paths → capability bounding set → groups/gid/uid → no_new_privs → seccomp → exec.
// Masked paths and the seccomp filter are shared with the nspawn stage1 (common/isolation);
// see the ISOLATION HOOK markers in isolation_hook.cpp.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/guest_protocol.h"

namespace rkt::guest_init {

struct AppCredentials {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> supplementary_gids;
};

// The app's user and groups, resolved before fork with its root mounted at `rootfs`. Throws
// rkt::Error naming what cannot be resolved.
AppCredentials resolve_app_credentials(const guest::GuestApp& app, const std::string& rootfs);

// Runs in the child (single-threaded, still root). Throws rkt::Error on the first failure.
void enter_app_security_context(const guest::IsolationSettings& isolation,
                                const AppCredentials& credentials);

// What of the app's isolation this build cannot apply yet, one line each (sent to the host as
// warnings before the app starts, so a missing protection is never silent).
std::vector<std::string> isolation_gaps(const guest::GuestApp& app);

}  // namespace rkt::guest_init
