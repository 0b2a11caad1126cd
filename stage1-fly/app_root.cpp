#include "stage1-fly/app_root.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/pod_files.h"
#include "common/safe_path.h"

namespace rkt::fly {

namespace stdfs = std::filesystem;

namespace {

void mount_checked(const std::string& source, const std::string& target, const char* type,
                   unsigned long flags, const std::string& data, const std::string& what) {
    if (::mount(source.c_str(), target.c_str(), type, flags,
                data.empty() ? nullptr : data.c_str()) != 0)
        throw system_error("cannot mount " + what);
}

// Binds `source` onto `target` inside the root; read-only when asked.
void bind_into(int root_fd, const std::string& source, const std::string& target, bool recursive,
               bool read_only, const std::string& what) {
    struct stat st {};
    if (::stat(source.c_str(), &st) != 0) throw system_error("cannot bind " + what + ": " + source);
    UniqueFd target_fd = S_ISDIR(st.st_mode) ? safe_path::make_dirs_beneath(root_fd, target)
                                             : safe_path::make_file_beneath(root_fd, target);
    std::string tpath = safe_path::fd_path(target_fd.get());
    unsigned long flags = MS_BIND | (recursive ? MS_REC : 0);
    mount_checked(source, tpath, nullptr, flags, "", what);
    if (read_only) {
        // A read-only bind needs a remount of the new mount point (the fd still names the
        // directory under it, so re-resolve the path).
        UniqueFd again = safe_path::open_beneath(root_fd, target, O_PATH);
        mount_checked("", safe_path::fd_path(again.get()), nullptr,
                      MS_BIND | MS_REMOUNT | MS_RDONLY | (recursive ? MS_REC : 0), "",
                      what + " read-only");
    }
}

}  // namespace

stdfs::path app_root_path(const stdfs::path& pod_dir, const std::string& app) {
    return pod_dir / "apps" / app / "rootfs";
}

void build_app_root(const stdfs::path& pod_dir, const PodManifest& pod, const RuntimeApp& app,
                    const RunOptions& options) {
    stdfs::path base = pod_dir / "apps" / app.name;
    stdfs::path root = app_root_path(pod_dir, app.name);
    fs::make_dirs(root);
    // appsinfo/<app>/rootfs: a symlink to the store's tree (overlaid), or with --no-overlay the
    // pod's own copy, which is the app's root as it is.
    stdfs::path tree = pod_dir / "appsinfo" / app.name / "rootfs";
    bool pod_copy = !stdfs::is_symlink(tree) && stdfs::is_directory(tree);
    stdfs::path lower = pod_copy ? tree : pod_files::app_image_tree(pod_dir, app.name);
    if (app.read_only_rootfs || pod_copy) {
        mount_checked(lower.string(), root.string(), nullptr, MS_BIND | MS_REC, "",
                      "the app's rootfs");
        if (app.read_only_rootfs)
            mount_checked("", root.string(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, "",
                          "the app's rootfs read-only");
    } else {
        fs::make_dirs(base / "upper");
        fs::make_dirs(base / "work");
        mount_checked("overlay", root.string(), "overlay", 0,
                      "lowerdir=" + lower.string() + ",upperdir=" + (base / "upper").string() +
                          ",workdir=" + (base / "work").string(),
                      "the app's overlay rootfs");
    }
    UniqueFd root_fd = fs::open_dir(root);
    bind_into(root_fd.get(), "/dev", "/dev", true, false, "/dev");
    bind_into(root_fd.get(), "/proc", "/proc", true, false, "/proc");
    bind_into(root_fd.get(), "/sys", "/sys", true, false, "/sys");
    {
        UniqueFd tmp = safe_path::make_dirs_beneath(root_fd.get(), "/tmp", 01777);
        mount_checked("tmpfs", safe_path::fd_path(tmp.get()), "tmpfs", MS_NOSUID | MS_NODEV,
                      "mode=1777", "/tmp");
    }
    if (options.dns.size() == 1 && options.dns[0] == "host")
        bind_into(root_fd.get(), "/etc/resolv.conf", "/etc/resolv.conf", false, true,
                  "/etc/resolv.conf");
    if (options.hosts_entries.size() == 1 && options.hosts_entries[0] == "host")
        bind_into(root_fd.get(), "/etc/hosts", "/etc/hosts", false, true, "/etc/hosts");

    for (const auto& m : app.mounts) {
        const Volume* v = pod.find_volume(m.volume);
        if (!v)
            throw Error("app " + app.name + " mounts volume \"" + m.volume +
                        "\", which the pod does not define");
        std::string source = v->source;
        if (v->kind == "empty") {
            stdfs::path dir = pod_dir / "volumes" / v->name;
            if (!stdfs::exists(dir)) {
                fs::make_dirs(dir);
                if (::chmod(dir.c_str(), empty_volume_mode(*v)) != 0)
                    throw system_error("cannot set the mode of volume " + v->name);
                if (::chown(dir.c_str(), v->uid, v->gid) != 0)
                    throw system_error("cannot chown volume " + v->name);
            }
            source = dir.string();
        }
        with_context("volume " + v->name, [&] {
            bind_into(root_fd.get(), source, m.path, v->recursive, v->read_only,
                      "volume " + v->name);
        });
    }
}

}  // namespace rkt::fly
