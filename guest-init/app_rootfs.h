// The guest side of the pod's storage: each app's erofs disk mounted read-only with a tmpfs
// overlay on top, and the pod's volumes (virtio-9p or tmpfs) mounted once for all apps.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/guest_protocol.h"

namespace rkt::guest_init {

struct AppPaths {
    std::string dir;     // /opt/stage2/<app>
    std::string image;   // <dir>/image: the erofs disk, read-only
    std::string rootfs;  // <dir>/rootfs: the overlay the app runs in
};

AppPaths app_paths(const std::string& app_name);
std::string volume_dir(const std::string& volume_name);  // /run/rkt/volumes/<name>

// The /dev node of the app's disk: by serial when the spec gives one, else by index. Waits up
// to `timeout` for it to appear. Throws rkt::Error.
std::string find_app_disk(const guest::GuestApp& app, std::chrono::milliseconds timeout);

inline constexpr std::chrono::seconds kAppDiskTimeout{5};

// The verified devices of the apps whose spec has `verity`, by app name: each app's disk read
// through its own dm-verity device (guest-init/dm_verity.h), named rkt-app-<index>. Done for
// the whole pod before any app starts: a disk that cannot be verified fails the pod. Throws
// rkt::Error naming the app.
std::map<std::string, std::string> verify_app_disks(const guest::PodSpec& spec,
                                                    std::chrono::milliseconds disk_timeout);

// Mounts the app's image and overlay: the image from `verified_device` when the app's spec has
// `verity` (never the raw disk then), else from its disk. Throws rkt::Error naming the step.
AppPaths prepare_app_rootfs(const guest::GuestApp& app, std::chrono::milliseconds disk_timeout,
                            const std::string& verified_device = "");

// tmpfs's mount options for an empty volume: its mode, owner and group ("mode=0755,uid=0,gid=0").
std::string empty_volume_options(const guest::VolumeSpec& volume);

void mount_volumes(const guest::PodSpec& spec);

}  // namespace rkt::guest_init
