#include "guest-init/app_rootfs.h"

#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"
#include "guest-init/dm_verity.h"
#include "guest-init/exec_rules.h"
#include "guest-init/mount_util.h"

namespace rkt::guest_init {

namespace {

std::string disk_by_serial(const std::string& serial) {
    DIR* d = ::opendir("/sys/block");
    if (!d) return {};
    std::string found;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name.rfind("vd", 0) != 0) continue;
        auto s = fs::read_file_if_exists("/sys/block/" + name + "/serial");
        if (s && strings::trim(*s) == serial) {
            found = "/dev/" + name;
            break;
        }
    }
    ::closedir(d);
    return found;
}

void make_dir(const std::string& path, mode_t mode) {
    if (::mkdir(path.c_str(), mode) < 0 && errno != EEXIST)
        throw system_error("cannot create " + path);
}

}  // namespace

AppPaths app_paths(const std::string& app_name) {
    std::string dir = "/opt/stage2/" + app_name;
    return {dir, dir + "/image", dir + "/rootfs"};
}

std::string volume_dir(const std::string& volume_name) {
    return "/run/rkt/volumes/" + volume_name;
}

std::string empty_volume_options(const guest::VolumeSpec& volume) {
    // The spec was validated, but this string goes to mount(2): check the numbers again.
    if (volume.mode > guest::kMaxVolumeMode || volume.uid > guest::kMaxId ||
        volume.gid > guest::kMaxId)
        throw Error("volume " + volume.name + ": mode, uid or gid out of range");
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(volume.mode));
    return std::string("mode=") + mode + ",uid=" + std::to_string(volume.uid) +
           ",gid=" + std::to_string(volume.gid);
}

std::string find_app_disk(const guest::GuestApp& app, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::string dev = app.disk_serial.empty() ? "/dev/" + virtio_disk_name(app.disk)
                                                  : disk_by_serial(app.disk_serial);
        if (!dev.empty() && ::access(dev.c_str(), F_OK) == 0) return dev;
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!app.disk_serial.empty()) throw Error("no virtio-blk disk has serial " + app.disk_serial);
    throw Error("its disk /dev/" + virtio_disk_name(app.disk) + " (index " +
                std::to_string(app.disk) + ") does not exist; the VM has fewer disks");
}

std::map<std::string, std::string> verify_app_disks(const guest::PodSpec& spec,
                                                    std::chrono::milliseconds disk_timeout) {
    std::map<std::string, std::string> devices;
    for (size_t i = 0; i < spec.apps.size(); ++i) {
        const guest::GuestApp& app = spec.apps[i];
        if (!app.verity) continue;
        with_context("app " + app.name, [&] {
            std::string disk = find_app_disk(app, disk_timeout);
            devices[app.name] =
                create_verity_device("rkt-app-" + std::to_string(i), disk, *app.verity);
        });
    }
    return devices;
}

AppPaths prepare_app_rootfs(const guest::GuestApp& app, std::chrono::milliseconds disk_timeout,
                            const std::string& verified_device) {
    AppPaths p = app_paths(app.name);
    if (app.verity && verified_device.empty())
        throw Error("its disk has dm-verity parameters but no verified device");
    std::string dev = app.verity ? verified_device : find_app_disk(app, disk_timeout);
    make_dir(p.dir, 0755);
    make_dir(p.image, 0755);
    make_dir(p.rootfs, 0755);
    if (::mount(dev.c_str(), p.image.c_str(), "erofs", MS_RDONLY | MS_NODEV, nullptr) < 0) {
        int err = errno;
        std::string hint = err == EINVAL ? " (is it an erofs image?)" : "";
        throw system_error("cannot mount its image " + dev + " read-only" + hint, err);
    }
    // The writable layer lives in its own tmpfs, so one app cannot fill another's.
    std::string rw = p.dir + "/rw";
    make_dir(rw, 0755);
    mount_checked("rw", rw, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755",
                  "the tmpfs for its writable layer");
    make_dir(rw + "/upper", 0755);
    make_dir(rw + "/work", 0755);
    mount_checked("overlay", p.rootfs, "overlay", 0,
                  "lowerdir=" + p.image + ",upperdir=" + rw + "/upper,workdir=" + rw + "/work",
                  "its overlay root");
    return p;
}

void mount_volumes(const guest::PodSpec& spec) {
    if (spec.volumes.empty()) return;
    make_dir("/run/rkt", 0755);
    make_dir("/run/rkt/volumes", 0755);
    for (const auto& v : spec.volumes) {
        std::string dir = volume_dir(v.name);
        make_dir(dir, 0755);
        unsigned long ro = v.read_only ? MS_RDONLY : 0;
        if (v.kind == guest::VolumeSpec::Kind::k9p) {
            mount_checked(v.tag, dir, "9p", ro | MS_NODEV,
                          "trans=virtio,version=9p2000.L,msize=262144",
                          "volume " + v.name + " (9p tag " + v.tag + ")");
        } else {
            mount_checked("volume", dir, "tmpfs", ro | MS_NODEV, empty_volume_options(v),
                          "volume " + v.name + " (tmpfs)");
        }
    }
}

}  // namespace rkt::guest_init
