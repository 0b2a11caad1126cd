// `rkt run/prepare --pod-manifest=FILE`: reads a user's appc PodManifest, checks it as hostile
// input, and turns it into the PodIntent that the command line would give, plus how to find
// each app's image in the store (never fetched from here).
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "stage0/pod/pod_spec_builder.h"
#include "stage0/store/image_store.h"

namespace rkt {

inline constexpr size_t kMaxPodManifestBytes = 1 << 20;
inline constexpr size_t kMaxPodManifestApps = 64;

// An app's "image" in the manifest: a store image id (or unambiguous prefix), else a name
// with an optional "version" label (or ":tag" in the name), "os" and "arch" labels.
struct ManifestImageRef {
    std::string name;
    std::string id;
    std::map<std::string, std::string> labels;

    std::string describe() const;  // for messages: the id, else the name[:version]
};

struct PodManifestInput {
    PodIntent intent;
    std::vector<ManifestImageRef> images;  // one per intent.apps, in order
};

// Parses and checks the text of a pod manifest; errors name the field at fault.
PodManifestInput parse_pod_manifest_input(const std::string& text);
// Reads FILE (a regular file of at most kMaxPodManifestBytes) and parses it.
PodManifestInput read_pod_manifest_input(const std::filesystem::path& file);

// The store's image for one app of the manifest; an image not in the store is an error that
// says to `rkt fetch` it first.
store::ImageInfo find_manifest_image(const store::ImageStore& images, const ManifestImageRef& ref,
                                     const std::string& app_name);

}  // namespace rkt
