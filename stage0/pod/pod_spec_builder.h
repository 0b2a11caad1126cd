// Builds the PodManifest from what the user asked for and the apps' images: exec, arguments,
// environment (rkt's precedence), user and group, working directory, isolators, mounts, volumes.
// The command line and a --pod-manifest file both come down to a PodIntent, so every pod goes
// through one builder.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/pod_manifest.h"
#include "common/verity_info.h"
#include "stage0/app_args.h"
#include "stage0/pod/pod_options.h"
#include "stage0/store/image_store.h"

namespace rkt {

struct PodAppImage {
    store::ImageInfo image;
    std::filesystem::path rootfs;      // rendered tree (always present)
    std::filesystem::path erofs;       // erofs image, when the stage1 wants one
    std::optional<VerityInfo> verity;  // the erofs image's dm-verity parameters, with it
    std::string tree_digest;           // "sha256:<hex>" of the tree, for imageFormat tree
};

// One app as asked for, before its image fills in what is left unset.
struct AppIntent {
    std::string image;                // as the user named it, for messages
    std::optional<std::string> name;  // default: from the image's name
    // exec replaces the image's entrypoint (and drops its cmd); args replace the cmd.
    std::optional<std::string> exec;
    std::optional<std::vector<std::string>> args;
    std::vector<EnvVar> environment;  // set over the image's environment, in order
    bool inherit_env = false;         // then fill what is still unset from rkt's environment
    std::optional<std::string> user;
    std::optional<std::string> group;
    std::vector<uint32_t> supplementary_gids;
    std::optional<std::string> working_dir;
    std::vector<Isolator> isolators;
    std::vector<MountPoint> mount_points;
    std::vector<PortSpec> ports;
    std::vector<AppMount> mounts;  // targets already normalised (normalize_mount_target)
    bool read_only_rootfs = false;
    std::map<std::string, std::string> annotations;
    std::map<std::string, std::string> user_annotations;
    std::map<std::string, std::string> user_labels;
};

struct PodIntent {
    std::vector<AppIntent> apps;
    std::vector<Volume> volumes;  // each checked with check_volume
    std::map<std::string, std::string> annotations;
    // Where an app's command comes from, for the hint when an image has none.
    std::string exec_hint = "give one with --exec";
};

// The command line's pod: --volume, --set-env(-file), --inherit-env and each app's flags.
PodIntent pod_intent_from_flags(const PodFlags& flags, const std::vector<AppRequest>& apps);

// `images[i]` is the image of `intent.apps[i]`.
PodManifest build_pod_manifest(const PodIntent& intent, const std::vector<PodAppImage>& images);

Volume parse_volume_flag(const std::string& spec);
AppMount parse_mount_flag(const std::string& spec);
// Checks a volume's name, kind, source (an existing absolute path for kind=host) and mode;
// `where` prefixes the messages ("--volume", "pod manifest volume").
void check_volume(const Volume& v, const std::string& where);
// "/a/b/../c" → "/a/c": a directory inside the app, never "/" itself.
std::string normalize_mount_target(const std::string& target);
// Reads a --set-env-file: NAME=VALUE lines; blank lines and lines starting with # or ; ignored.
std::vector<EnvVar> read_env_file(const std::filesystem::path& path);

std::optional<uint64_t> total_memory_limit(const PodManifest& pm);
std::optional<uint64_t> total_cpu_limit(const PodManifest& pm);

}  // namespace rkt
