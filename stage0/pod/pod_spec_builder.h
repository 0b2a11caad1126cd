// Builds the PodManifest from the apps on the command line and their images: exec, arguments,
// environment (rkt's precedence), user and group, working directory, isolators, mounts, volumes.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include "common/pod_manifest.h"
#include "stage0/app_args.h"
#include "stage0/pod/pod_options.h"
#include "stage0/store/image_store.h"

namespace rkt {

struct PodAppImage {
    store::ImageInfo image;
    std::filesystem::path rootfs;  // rendered tree (always present)
    std::filesystem::path erofs;   // erofs image, when the stage1 wants one
};

PodManifest build_pod_manifest(const PodFlags& flags, const std::vector<AppRequest>& apps,
                               const std::vector<PodAppImage>& images);

Volume parse_volume_flag(const std::string& spec);
AppMount parse_mount_flag(const std::string& spec);
// Reads a --set-env-file: NAME=VALUE lines; blank lines and lines starting with # or ; ignored.
std::vector<EnvVar> read_env_file(const std::filesystem::path& path);

std::optional<uint64_t> total_memory_limit(const PodManifest& pm);
std::optional<uint64_t> total_cpu_limit(const PodManifest& pm);

}  // namespace rkt
