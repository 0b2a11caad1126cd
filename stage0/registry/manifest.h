// Manifests and indexes as a registry serves them (OCI and Docker schema 2), checked as hostile
// input, and the choice of this platform's manifest from an index.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rkt::registry {

namespace media {
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kSimpleSigning =
    "application/vnd.dev.cosign.simplesigning.v1+json";
}  // namespace media

// The Accept header value naming every manifest type we handle.
std::string manifest_accept_header();

struct Platform {
    std::string os;
    std::string architecture;
    std::string variant;
};

// This machine, in GOOS/GOARCH terms ("linux", "amd64").
Platform host_platform();

struct Descriptor {
    std::string media_type;
    std::string digest;
    uint64_t size = 0;
    std::optional<Platform> platform;
    std::map<std::string, std::string> annotations;
};

struct Manifest {
    bool is_index = false;
    std::string media_type;
    // Image manifest:
    Descriptor config;
    std::vector<Descriptor> layers;
    // Index:
    std::vector<Descriptor> manifests;
};

// Parses and checks a manifest or index. `content_type` is the response's Content-Type (may be
// empty). Rejects schema 1, unknown or mismatched media types, malformed descriptors, and
// layers we cannot use (foreign / non-distributable). `any_layer_type` accepts layers of any
// media type (signature manifests carry payloads, not file-system layers).
Manifest parse_manifest(std::string_view bytes, std::string_view content_type,
                        bool any_layer_type = false);

// The first index entry that is an image manifest or index for `want`; nullopt when none is.
std::optional<Descriptor> select_platform(const Manifest& index, const Platform& want);

std::string platform_string(const Platform& p);

}  // namespace rkt::registry
