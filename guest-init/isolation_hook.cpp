#include "guest-init/isolation_hook.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <optional>
#include <set>

#include "common/error.h"
#include "common/strings.h"

namespace rkt::guest_init {

namespace {

// Keeps only `keep` in the bounding set and clears the inheritable and ambient sets, so that
// exec gives a root app exactly `keep` and a non-root app nothing beyond its file capabilities
// (themselves limited by the bounding set).
void restrict_capabilities(const std::vector<std::string>& keep) {
    std::set<cap_value_t> kept;
    for (const auto& name : keep) {
        cap_value_t value;
        if (::cap_from_name(name.c_str(), &value) < 0)
            throw Error("unknown capability " + name +
                        " (not known to this guest kernel's libcap)");
        kept.insert(value);
    }
    // cap_max_bits() is what the running kernel knows, so new capabilities are dropped too.
    for (cap_value_t c = 0; c < static_cast<cap_value_t>(::cap_max_bits()); ++c) {
        if (kept.count(c)) continue;
        if (::cap_drop_bound(c) < 0 && errno != EINVAL)
            throw system_error("cannot drop capability " + std::to_string(c) +
                               " from the bounding set");
    }
    if (::cap_reset_ambient() < 0 && errno != EINVAL)
        throw system_error("cannot clear the ambient capabilities");
    cap_t caps = ::cap_get_proc();
    if (!caps) throw system_error("cannot read the process capabilities");
    int rc = ::cap_clear_flag(caps, CAP_INHERITABLE);
    if (rc == 0) rc = ::cap_set_proc(caps);
    int err = errno;
    ::cap_free(caps);
    if (rc < 0) throw system_error("cannot clear the inheritable capabilities", err);
}

void set_credentials(const AppCredentials& c) {
    check_sys(::setgroups(c.supplementary_gids.size(), c.supplementary_gids.data()),
              "cannot set the supplementary groups");
    check_sys(::setresgid(c.gid, c.gid, c.gid), "cannot set gid " + std::to_string(c.gid));
    check_sys(::setresuid(c.uid, c.uid, c.uid), "cannot set uid " + std::to_string(c.uid));
}

void set_oom_score_adj(int value) {
    std::string text = std::to_string(value);
    int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0) throw system_error("cannot open /proc/self/oom_score_adj");
    ssize_t n = ::write(fd, text.data(), text.size());
    int err = errno;
    ::close(fd);
    if (n < 0) throw system_error("cannot set oom_score_adj to " + text, err);
}

std::optional<uint32_t> numeric_id(const std::string& s) {
    if (!strings::is_decimal(s) || s.size() > 10) return std::nullopt;
    uint64_t v = std::stoull(s);
    if (v >= UINT32_MAX) return std::nullopt;
    return static_cast<uint32_t>(v);
}

// ISOLATION HOOK (masked paths): call the shared masked-path code of common/isolation here.
// Runs after pivot_root with the app's /proc and /sys mounted, while still root.
void apply_masked_paths(const guest::IsolationSettings& /*isolation*/) {}

// ISOLATION HOOK (seccomp): build and load the shared seccomp filter (common/isolation,
// libseccomp) here. It is the last step before exec, after no_new_privs.
void install_seccomp_filter(const guest::IsolationSettings& /*isolation*/) {}

}  // namespace

// ISOLATION HOOK (identity): resolve names and paths with the shared resolver of
// common/isolation (the image's /etc/passwd and /etc/group, read inside `rootfs`), and add the
// user's /etc/group memberships to the supplementary groups. Until then: numbers only.
AppCredentials resolve_app_credentials(const guest::GuestApp& app, const std::string& /*rootfs*/) {
    auto uid = numeric_id(app.user);
    auto gid = numeric_id(app.group);
    if (!uid)
        throw Error("user \"" + app.user +
                    "\" is not a number; this build of guest-init resolves numeric ids only");
    if (!gid)
        throw Error("group \"" + app.group +
                    "\" is not a number; this build of guest-init resolves numeric ids only");
    AppCredentials c{*uid, *gid, {}};
    c.supplementary_gids.assign(app.supplementary_gids.begin(), app.supplementary_gids.end());
    return c;
}

void enter_app_security_context(const guest::IsolationSettings& isolation,
                                const AppCredentials& credentials) {
    if (isolation.masked_paths) apply_masked_paths(isolation);
    if (isolation.oom_score_adj) set_oom_score_adj(*isolation.oom_score_adj);
    if (isolation.capabilities) restrict_capabilities(*isolation.capabilities);
    set_credentials(credentials);
    if (isolation.no_new_privileges)
        check_sys(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "cannot set no_new_privs");
    if (isolation.seccomp) install_seccomp_filter(isolation);
}

std::vector<std::string> isolation_gaps(const guest::GuestApp& app) {
    const auto& isolation = app.isolation;
    std::vector<std::string> gaps;
    if (isolation.capabilities_granted_to_non_root && app.user != "0")
        gaps.push_back(
            "capabilities are not granted to a non-root user in this build of "
            "guest-init (it keeps only the bounding set)");
    if (isolation.masked_paths)
        gaps.push_back("masked /proc and /sys paths are not applied in this build of guest-init");
    if (isolation.seccomp)
        gaps.push_back("the seccomp filter is not applied in this build of guest-init");
    return gaps;
}

}  // namespace rkt::guest_init
