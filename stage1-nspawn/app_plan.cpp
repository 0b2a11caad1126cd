#include "stage1-nspawn/app_plan.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "common/app_environment.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/isolation_rootfs.h"
#include "common/strings.h"

namespace rkt::nspawn {
namespace {

// Overlay options are comma- and colon-separated: such paths cannot be given to it.
void check_overlay_path(const stdfs::path& p) {
    if (p.string().find_first_of(",:\\") != std::string::npos)
        throw Error("path " + p.string() +
                    " contains ',', ':' or '\\', which overlayfs options cannot carry");
}

void check_target(const std::string& target, const std::string& what) {
    if (target.empty() || target[0] != '/')
        throw Error(what + ": mount path \"" + target + "\" must be absolute");
}

MountPlan volume_mount(const Pod& pod, const RuntimeApp& app, const std::string& volume_name,
                       const std::string& target) {
    check_target(target, "volume \"" + volume_name + "\"");
    const Volume* vol = pod.manifest().find_volume(volume_name);
    if (!vol) throw Error("mounts volume \"" + volume_name + "\", which the pod does not define");
    MountPlan m;
    m.target = target;
    m.read_only = vol->read_only;
    for (const auto& mp : app.app.mount_points)
        if (mp.name == volume_name && mp.read_only) m.read_only = true;
    if (vol->kind == "host") {
        if (vol->source.empty() || vol->source[0] != '/')
            throw Error("volume \"" + vol->name + "\": source \"" + vol->source +
                        "\" must be an absolute path");
        struct stat st {};
        if (::stat(vol->source.c_str(), &st) != 0)
            throw system_error("volume \"" + vol->name + "\": source " + vol->source);
        m.source = vol->source;
        m.directory = S_ISDIR(st.st_mode);
        m.recursive = vol->recursive;
    } else {
        m.source = pod.shared_volume(vol->name);
        m.directory = true;
        m.nodev = true;
    }
    return m;
}

}  // namespace

isolation::InsecureOptions insecure_options(const RunOptions& options) {
    return isolation::InsecureOptions::from_names(options.insecure_options);
}

std::vector<std::string> app_environment(const RuntimeApp& app, const isolation::Identity& id,
                                         bool interactive) {
    std::string term;
    if (interactive) {
        const char* t = std::getenv("TERM");
        term = t && *t ? t : "xterm";
    }
    return rkt::app_environment(app, id.home, term);
}

AppPlan plan_app(const Pod& pod, const RuntimeApp& app, const EtcFiles& etc,
                 const isolation::InsecureOptions& insecure, bool interactive) {
    return with_context("app \"" + app.name + "\"", [&] {
        AppPlan plan;
        plan.name = app.name;
        plan.tree = pod.app_tree(app.name);
        plan.pod_copy = pod.app_tree_is_copy(app.name);
        if (plan.pod_copy) {
            plan.root = plan.tree;
        } else {
            stdfs::path overlay = pod.overlay_dir(app.name);
            plan.upper = overlay / "upper";
            plan.work = overlay / "work";
            plan.root = overlay / "rootfs";
            for (const auto& p : {plan.tree, plan.upper, plan.work}) check_overlay_path(p);
        }
        plan.read_only_rootfs = app.read_only_rootfs;

        plan.policy = isolation::policy_for_app(app.app, insecure);
        plan.limits = isolation::resource_limits(app.app.isolators);
        UniqueFd tree = fs::open_dir(plan.tree);
        plan.identity = isolation::resolve_identity(app.app, tree.get());

        if (app.app.exec.empty() || app.app.exec[0].empty())
            throw Error("nothing to run: the image has no exec (give one with --exec)");
        plan.exec.argv = app.app.exec;
        for (const auto& a : plan.exec.argv)
            if (a.find('\0') != std::string::npos) throw Error("exec arguments hold a NUL byte");
        plan.exec.env = app_environment(app, plan.identity, interactive);
        plan.exec.working_directory =
            app.app.working_directory.empty() ? "/" : app.app.working_directory;
        if (plan.exec.working_directory[0] != '/')
            throw Error("working directory \"" + plan.exec.working_directory +
                        "\" must be absolute");

        // Explicit mounts, then the image's mount points that a pod volume of the same name
        // fills (rkt's implicit mounts).
        for (const auto& m : app.mounts)
            plan.mounts.push_back(volume_mount(pod, app, m.volume, m.path));
        for (const auto& mp : app.app.mount_points) {
            bool explicit_mount = false;
            for (const auto& m : app.mounts) explicit_mount |= m.volume == mp.name;
            if (!explicit_mount && pod.manifest().find_volume(mp.name))
                plan.mounts.push_back(volume_mount(pod, app, mp.name, mp.path));
        }

        plan.mounts.push_back(
            {etc.hostname.source, "/etc/hostname", false, etc.hostname.read_only});
        if (etc.hosts) {
            plan.mounts.push_back({etc.hosts->source, "/etc/hosts", false, etc.hosts->read_only});
        } else if (!rootfs::exists(tree.get(), "/etc/hosts")) {
            plan.mounts.push_back(
                {etc.hosts_fallback.source, "/etc/hosts", false, etc.hosts_fallback.read_only});
        }
        if (etc.resolv_conf)
            plan.mounts.push_back(
                {etc.resolv_conf->source, "/etc/resolv.conf", false, etc.resolv_conf->read_only});
        return plan;
    });
}

void prepare_shared_volumes(const Pod& pod, const std::optional<IdShift>& shift) {
    for (const auto& vol : pod.manifest().volumes) {
        if (vol.kind != "empty") continue;
        const mode_t mode = empty_volume_mode(vol);
        if (!strings::is_valid_acname(vol.name))
            throw Error("volume name \"" + vol.name + "\" is not valid (lower-case letters, " +
                        "digits and dashes)");
        stdfs::path dir = pod.shared_volume(vol.name);
        fs::make_dirs(dir.parent_path());
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
            throw system_error("cannot create " + dir.string());
        UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) throw system_error("cannot open " + dir.string());
        uid_t uid = vol.uid;
        gid_t gid = vol.gid;
        if (shift) {
            with_context("volume \"" + vol.name + "\"", [&] {
                uid = shift->to_host(vol.uid);
                gid = shift->to_host(vol.gid);
            });
        }
        if (::fchown(fd.get(), uid, gid) != 0)
            throw system_error("cannot set the owner of " + dir.string());
        if (::fchmod(fd.get(), mode) != 0)
            throw system_error("cannot set the mode of " + dir.string());
    }
}

}  // namespace rkt::nspawn
