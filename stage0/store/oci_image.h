// Parsers for the JSON documents of OCI / Docker schema-2 images: index, manifest, config and
// `docker save`'s manifest.json. All input is hostile: sizes, depths, digests and shapes are
// checked, and every error names what is wrong.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stage0/store/image_store.h"

namespace rkt::store::oci {

namespace media {
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";
}  // namespace media

// The host platform: images for anything else are refused.
inline constexpr std::string_view kHostOs = "linux";
inline constexpr std::string_view kHostArchitecture = "amd64";

enum class Compression { kNone, kGzip, kZstd };

struct Platform {
    std::string os;
    std::string architecture;
    std::string variant;
    std::string to_string() const;  // "arm64/linux", "arm/v7/linux" (rkt's arch/os order)
};

struct Descriptor {
    std::string media_type;
    std::string digest;  // validated "sha256:<64 hex>"
    uint64_t size = 0;
    std::vector<std::string> urls;
    std::map<std::string, std::string> annotations;
    std::optional<Platform> platform;

    std::string hex() const { return digest.substr(7); }
    const std::string* annotation(std::string_view key) const;
};

struct Index {
    std::string media_type;
    std::vector<Descriptor> manifests;
};

struct Manifest {
    std::string media_type;  // as declared, or the descriptor's when the document omits it
    Descriptor config;
    std::vector<Descriptor> layers;
};

struct ParsedConfig {
    ImageConfig config;
    std::vector<std::string> diff_ids;  // validated digests, base layer first
};

// One entry of `docker save`'s manifest.json.
struct DockerSaveEntry {
    std::string config_path;
    std::vector<std::string> repo_tags;
    std::vector<std::string> layer_paths;
};

// Parses JSON text after checking its size and nesting depth (hostile documents could otherwise
// exhaust memory or the stack). `what` names the document in errors.
nlohmann::json parse_json(std::string_view text, std::string_view what, uint64_t max_bytes);

bool is_index_media_type(std::string_view media_type);
bool is_manifest_media_type(std::string_view media_type);
// The compression a layer media type declares; nullopt for media types that are not layers.
std::optional<Compression> layer_compression(std::string_view media_type);

Descriptor parse_descriptor(const nlohmann::json& j, std::string_view what);
Index parse_index(std::string_view text, uint64_t max_bytes);
// `descriptor_media_type` is the media type of the descriptor that pointed at this manifest.
Manifest parse_manifest(std::string_view text, std::string_view descriptor_media_type,
                        uint64_t max_bytes);
// Normalises the config and refuses images for another OS or architecture.
ParsedConfig parse_config(std::string_view text, uint64_t max_bytes);
std::vector<DockerSaveEntry> parse_docker_save_manifest(std::string_view text, uint64_t max_bytes);

// Does a descriptor in an index match this machine? A descriptor without a platform matches.
bool platform_matches_host(const Descriptor& d);

// Splits "name[:tag][@digest]" (a colon after the last slash is a tag). Tag empty if absent.
struct NameTag {
    std::string name;
    std::string tag;
};
NameTag split_name_tag(std::string_view reference);

// Builds the canonical OCI manifest bytes the store keeps for images that arrive without one
// (`docker save` archives): deterministic, so re-importing gives the same image id.
std::string synthesize_manifest(const Descriptor& config, const std::vector<Descriptor>& layers);

}  // namespace rkt::store::oci
