#include "stage0/registry/manifest.h"

#include <sys/utsname.h>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/error.h"
#include "common/strings.h"

namespace rkt::registry {

namespace {

constexpr size_t kMaxEntries = 1000;
constexpr uint64_t kMaxBlobSize = 1ull << 40;  // 1 TiB: anything larger is hostile

using json = nlohmann::json;

const std::vector<std::string_view>& layer_types() {
    static const std::vector<std::string_view> types = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    };
    return types;
}

std::string string_field(const json& j, const char* key, const std::string& what) {
    auto it = j.find(key);
    if (it == j.end()) return "";
    if (!it->is_string()) throw Error(what + ": \"" + key + "\" is not a string");
    return it->get<std::string>();
}

std::string strip_params(std::string_view content_type) {
    return strings::trim(content_type.substr(0, content_type.find(';')));
}

Descriptor parse_descriptor(const json& j, const std::string& what) {
    if (!j.is_object()) throw Error(what + " is not an object");
    Descriptor d;
    d.media_type = string_field(j, "mediaType", what);
    d.digest = string_field(j, "digest", what);
    if (d.digest.empty()) throw Error(what + " has no digest");
    if (d.digest.rfind("sha256:", 0) != 0)
        throw Error(what + " uses digest \"" + d.digest.substr(0, 80) +
                    "\"; only sha256 is supported");
    if (!is_valid_sha256_digest(d.digest))
        throw Error(what + " has a malformed digest \"" + d.digest.substr(0, 80) + "\"");
    auto size = j.find("size");
    if (size == j.end() || !size->is_number_unsigned()) throw Error(what + " has no valid size");
    d.size = size->get<uint64_t>();
    if (d.size > kMaxBlobSize)
        throw Error(what + " claims an absurd size (" + std::to_string(d.size) + " bytes)");
    if (auto p = j.find("platform"); p != j.end()) {
        if (!p->is_object()) throw Error(what + ": \"platform\" is not an object");
        d.platform = Platform{string_field(*p, "os", what), string_field(*p, "architecture", what),
                              string_field(*p, "variant", what)};
    }
    if (auto a = j.find("annotations"); a != j.end() && !a->is_null()) {
        if (!a->is_object()) throw Error(what + ": \"annotations\" is not an object");
        for (const auto& [k, v] : a->items())
            if (v.is_string()) d.annotations[k] = v.get<std::string>();
    }
    if (auto urls = j.find("urls"); urls != j.end() && urls->is_array() && !urls->empty())
        throw Error(what +
                    " is a foreign layer (it names external URLs); such images cannot be "
                    "fetched from a registry alone");
    return d;
}

bool is_index_type(std::string_view t) {
    return t == media::kOciIndex || t == media::kDockerList;
}
bool is_manifest_type(std::string_view t) {
    return t == media::kOciManifest || t == media::kDockerManifest;
}

}  // namespace

std::string manifest_accept_header() {
    return std::string(media::kOciIndex) + ", " + std::string(media::kOciManifest) + ", " +
           std::string(media::kDockerList) + ", " + std::string(media::kDockerManifest);
}

Platform host_platform() {
    struct utsname u {};
    ::uname(&u);
    std::string m = u.machine;
    Platform p{"linux", m, ""};
    if (m == "x86_64")
        p.architecture = "amd64";
    else if (m == "aarch64")
        p = {"linux", "arm64", "v8"};
    else if (m == "i686" || m == "i386")
        p.architecture = "386";
    else if (m.rfind("armv7", 0) == 0)
        p = {"linux", "arm", "v7"};
    else if (m == "ppc64le")
        p.architecture = "ppc64le";
    else if (m == "s390x")
        p.architecture = "s390x";
    else if (m == "riscv64")
        p.architecture = "riscv64";
    return p;
}

std::string platform_string(const Platform& p) {
    return p.os + "/" + p.architecture + (p.variant.empty() ? "" : "/" + p.variant);
}

Manifest parse_manifest(std::string_view bytes, std::string_view content_type,
                        bool any_layer_type) {
    json j = json::parse(bytes, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error("the manifest is not a JSON object");
    auto sv = j.find("schemaVersion");
    if (sv == j.end() || !sv->is_number_integer()) throw Error("the manifest has no schemaVersion");
    if (sv->get<int64_t>() == 1)
        throw Error(
            "the image has a Docker schema 1 manifest, which is not supported; push it "
            "again with a current tool (e.g. skopeo copy)");
    if (sv->get<int64_t>() != 2)
        throw Error("unsupported manifest schemaVersion " + std::to_string(sv->get<int64_t>()));

    std::string body_type = string_field(j, "mediaType", "the manifest");
    std::string header_type = strip_params(content_type);
    Manifest m;
    if (!body_type.empty()) {
        m.media_type = body_type;
        if (!header_type.empty() && header_type != body_type &&
            (is_index_type(header_type) || is_manifest_type(header_type)))
            throw Error("the registry says the manifest is " + header_type +
                        " but its content says " + body_type);
    } else if (is_index_type(header_type) || is_manifest_type(header_type)) {
        m.media_type = header_type;
    } else {
        // OCI allows an absent mediaType; tell by the structure.
        m.media_type = j.contains("manifests") ? std::string(media::kOciIndex)
                                               : std::string(media::kOciManifest);
    }
    if (is_index_type(m.media_type)) {
        m.is_index = true;
        auto list = j.find("manifests");
        if (list == j.end() || !list->is_array())
            throw Error("the index has no \"manifests\" array");
        if (list->size() > kMaxEntries)
            throw Error("the index has more than " + std::to_string(kMaxEntries) + " entries");
        size_t i = 0;
        for (const auto& e : *list)
            m.manifests.push_back(parse_descriptor(e, "index entry " + std::to_string(i++)));
        return m;
    }
    if (!is_manifest_type(m.media_type))
        throw Error("unsupported manifest media type \"" + m.media_type.substr(0, 100) + "\"");
    auto config = j.find("config");
    if (config == j.end()) throw Error("the manifest has no config descriptor");
    m.config = parse_descriptor(*config, "the config descriptor");
    if (!any_layer_type && m.config.media_type != media::kOciConfig &&
        m.config.media_type != media::kDockerConfig)
        throw Error("the manifest's config is \"" + m.config.media_type.substr(0, 100) +
                    "\", not a container image config (an artifact, not an image?)");
    auto layers = j.find("layers");
    if (layers == j.end() || !layers->is_array()) throw Error("the manifest has no layers array");
    if (layers->size() > kMaxEntries)
        throw Error("the manifest has more than " + std::to_string(kMaxEntries) + " layers");
    size_t i = 0;
    for (const auto& e : *layers) {
        std::string what = "layer " + std::to_string(i++);
        Descriptor d = parse_descriptor(e, what);
        if (!any_layer_type) {
            if (d.media_type.find("nondistributable") != std::string::npos ||
                d.media_type.find("foreign") != std::string::npos)
                throw Error(what +
                            " is a foreign (non-distributable) layer, which is not "
                            "supported");
            bool known = false;
            for (auto t : layer_types()) known = known || d.media_type == t;
            if (!known)
                throw Error(what + " has unsupported media type \"" + d.media_type.substr(0, 100) +
                            "\"");
        }
        m.layers.push_back(std::move(d));
    }
    return m;
}

std::optional<Descriptor> select_platform(const Manifest& index, const Platform& want) {
    for (const auto& d : index.manifests) {
        if (!is_manifest_type(d.media_type) && !is_index_type(d.media_type)) continue;
        if (!d.platform) continue;
        const Platform& p = *d.platform;
        if (p.os != want.os || p.architecture != want.architecture) continue;
        if (!want.variant.empty() && !p.variant.empty() && p.variant != want.variant) continue;
        return d;
    }
    return std::nullopt;
}

}  // namespace rkt::registry
