#include "guest-init/app_isolation.h"

#include "common/pod_manifest.h"

namespace rkt::guest_init {

isolation::Policy policy_from_settings(const guest::IsolationSettings& settings) {
    isolation::Policy policy;
    if (settings.capabilities)
        policy.capabilities = isolation::CapabilitySet::from_names(*settings.capabilities);
    else
        policy.capabilities.reset();
    policy.capabilities_granted_to_non_root = settings.capabilities_granted_to_non_root;
    if (const auto& s = settings.seccomp) {
        isolation::SeccompPolicy seccomp;
        seccomp.mode = s->mode == guest::SeccompSettings::Mode::kRetain
                           ? isolation::SeccompMode::kRetain
                           : isolation::SeccompMode::kRemove;
        seccomp.all = s->all;
        seccomp.syscalls.insert(s->syscalls.begin(), s->syscalls.end());
        seccomp.argument_filtered.insert(s->argument_filtered.begin(), s->argument_filtered.end());
        seccomp.errno_code = s->errno_value;
        policy.seccomp = std::move(seccomp);
    }
    policy.mask_paths = settings.masked_paths;
    policy.no_new_privileges = settings.no_new_privileges;
    policy.oom_score_adj = settings.oom_score_adj;
    return policy;
}

isolation::Identity resolve_app_identity(const guest::GuestApp& app, const std::string& rootfs) {
    AppSpec spec;
    spec.user = app.user;
    spec.group = app.group;
    spec.supplementary_gids = app.supplementary_gids;
    return isolation::resolve_identity(spec, rootfs);
}

isolation::PreparedIsolation prepare_app_isolation(const guest::GuestApp& app,
                                                   const std::string& rootfs) {
    return isolation::PreparedIsolation::prepare(policy_from_settings(app.isolation),
                                                 resolve_app_identity(app, rootfs));
}

}  // namespace rkt::guest_init
