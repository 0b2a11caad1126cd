#include "guest-init/app_isolation.h"

#include "common/pod_manifest.h"

namespace rkt::guest_init {

isolation::Identity resolve_app_identity(const guest::GuestApp& app, const std::string& rootfs) {
    AppSpec spec;
    spec.user = app.user;
    spec.group = app.group;
    spec.supplementary_gids = app.supplementary_gids;
    return isolation::resolve_identity(spec, rootfs);
}

isolation::PreparedIsolation prepare_app_isolation(const guest::GuestApp& app,
                                                   const std::string& rootfs) {
    return isolation::PreparedIsolation::prepare(guest::policy_from_settings(app.isolation),
                                                 resolve_app_identity(app, rootfs));
}

}  // namespace rkt::guest_init
