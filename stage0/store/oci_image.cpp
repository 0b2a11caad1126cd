#include "stage0/store/oci_image.h"

#include "common/digest.h"
#include "common/error.h"
#include "common/strings.h"

namespace rkt::store::oci {
namespace {

using nlohmann::json;

// Real documents nest a handful of levels; anything deeper is an attack on the parser.
constexpr size_t kMaxJsonDepth = 64;
// Docker caps images at 127 layers; leave room but stay bounded.
constexpr size_t kMaxLayers = 1000;
constexpr size_t kMaxIndexEntries = 10'000;

void check_json_depth(std::string_view text, std::string_view what) {
    if (strings::json_nesting_depth(text) > kMaxJsonDepth)
        throw Error(std::string(what) + " nests deeper than " + std::to_string(kMaxJsonDepth) +
                    " levels");
}

const json* member(const json& obj, std::string_view key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
}

std::string string_member(const json& obj, std::string_view key, std::string_view what,
                          bool required = false) {
    const json* v = member(obj, key);
    if (!v) {
        if (required) throw Error(std::string(what) + " has no \"" + std::string(key) + "\"");
        return {};
    }
    if (!v->is_string())
        throw Error(std::string(what) + ": \"" + std::string(key) + "\" is not a string");
    return v->get<std::string>();
}

std::vector<std::string> string_array(const json& obj, std::string_view key,
                                      std::string_view what) {
    std::vector<std::string> out;
    const json* v = member(obj, key);
    if (!v) return out;
    if (!v->is_array())
        throw Error(std::string(what) + ": \"" + std::string(key) + "\" is not an array");
    for (const auto& item : *v) {
        if (!item.is_string())
            throw Error(std::string(what) + ": \"" + std::string(key) +
                        "\" holds something other than strings");
        out.push_back(item.get<std::string>());
    }
    return out;
}

// Docker writes sets as objects whose values are empty objects: {"80/tcp": {}}.
std::vector<std::string> object_keys(const json& obj, std::string_view key, std::string_view what) {
    std::vector<std::string> out;
    const json* v = member(obj, key);
    if (!v) return out;
    if (!v->is_object())
        throw Error(std::string(what) + ": \"" + std::string(key) + "\" is not an object");
    for (const auto& [k, _] : v->items()) out.push_back(k);
    return out;
}

std::map<std::string, std::string> string_map(const json& obj, std::string_view key,
                                              std::string_view what) {
    std::map<std::string, std::string> out;
    const json* v = member(obj, key);
    if (!v) return out;
    if (!v->is_object())
        throw Error(std::string(what) + ": \"" + std::string(key) + "\" is not an object");
    for (const auto& [k, val] : v->items()) {
        if (!val.is_string())
            throw Error(std::string(what) + ": \"" + std::string(key) + "\"[\"" + k +
                        "\"] is not a string");
        out[k] = val.get<std::string>();
    }
    return out;
}

std::optional<Platform> parse_platform(const json& j, std::string_view what) {
    const json* p = member(j, "platform");
    if (!p) return std::nullopt;
    if (!p->is_object()) throw Error(std::string(what) + ": \"platform\" is not an object");
    Platform out;
    out.os = string_member(*p, "os", what);
    out.architecture = string_member(*p, "architecture", what);
    out.variant = string_member(*p, "variant", what);
    return out;
}

std::string display_media_type(std::string_view media_type) {
    return media_type.empty() ? "(none)" : std::string(media_type);
}

}  // namespace

std::string Platform::to_string() const {
    std::string out = architecture.empty() ? "unknown" : architecture;
    if (!variant.empty()) out += "/" + variant;
    return out + "/" + (os.empty() ? "unknown" : os);
}

const std::string* Descriptor::annotation(std::string_view key) const {
    auto it = annotations.find(std::string(key));
    return it == annotations.end() ? nullptr : &it->second;
}

json parse_json(std::string_view text, std::string_view what, uint64_t max_bytes) {
    if (text.size() > max_bytes)
        throw Error(std::string(what) + " is larger than the limit of " +
                    std::to_string(max_bytes) + " bytes");
    check_json_depth(text, what);
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        throw Error(std::string(what) + " is not valid JSON: " + e.what());
    }
}

bool is_index_media_type(std::string_view media_type) {
    return media_type == media::kOciIndex || media_type == media::kDockerManifestList;
}

bool is_manifest_media_type(std::string_view media_type) {
    return media_type == media::kOciManifest || media_type == media::kDockerManifest;
}

std::optional<Compression> layer_compression(std::string_view media_type) {
    if (media_type == media::kOciLayer || media_type == media::kDockerLayer ||
        media_type == "application/vnd.oci.image.layer.nondistributable.v1.tar")
        return Compression::kNone;
    if (media_type == media::kOciLayerGzip || media_type == media::kDockerLayerGzip ||
        media_type == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" ||
        media_type == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")
        return Compression::kGzip;
    if (media_type == media::kOciLayerZstd ||
        media_type == "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd")
        return Compression::kZstd;
    return std::nullopt;
}

Descriptor parse_descriptor(const json& j, std::string_view what) {
    if (!j.is_object()) throw Error(std::string(what) + " is not an object");
    Descriptor d;
    d.media_type = string_member(j, "mediaType", what);
    d.digest = string_member(j, "digest", what, true);
    if (!is_valid_sha256_digest(d.digest))
        throw Error(std::string(what) + ": unsupported or malformed digest \"" +
                    d.digest.substr(0, 80) + "\" (expected sha256:<64 lower-case hex>)");
    const json* size = member(j, "size");
    if (!size) throw Error(std::string(what) + " has no \"size\"");
    if (!size->is_number_unsigned())
        throw Error(std::string(what) + ": \"size\" is not a non-negative integer");
    d.size = size->get<uint64_t>();
    d.urls = string_array(j, "urls", what);
    d.annotations = string_map(j, "annotations", what);
    d.platform = parse_platform(j, what);
    return d;
}

Index parse_index(std::string_view text, uint64_t max_bytes) {
    json j = parse_json(text, "image index", max_bytes);
    if (!j.is_object()) throw Error("image index is not a JSON object");
    Index index;
    index.media_type = string_member(j, "mediaType", "image index");
    if (!index.media_type.empty() && !is_index_media_type(index.media_type))
        throw Error("image index has media type " + index.media_type +
                    ", expected an OCI image index or a Docker manifest list");
    const json* manifests = member(j, "manifests");
    if (!manifests || !manifests->is_array()) throw Error("image index has no \"manifests\" array");
    if (manifests->size() > kMaxIndexEntries)
        throw Error("image index lists more than " + std::to_string(kMaxIndexEntries) +
                    " manifests");
    for (size_t i = 0; i < manifests->size(); ++i)
        index.manifests.push_back(
            parse_descriptor((*manifests)[i], "image index entry " + std::to_string(i)));
    return index;
}

Manifest parse_manifest(std::string_view text, std::string_view descriptor_media_type,
                        uint64_t max_bytes) {
    json j = parse_json(text, "image manifest", max_bytes);
    if (!j.is_object()) throw Error("image manifest is not a JSON object");
    Manifest m;
    m.media_type = string_member(j, "mediaType", "image manifest");
    if (m.media_type.empty()) m.media_type = std::string(descriptor_media_type);
    if (m.media_type.empty()) m.media_type = std::string(media::kOciManifest);
    const json* schema = member(j, "schemaVersion");
    if (schema && schema->is_number_integer() && schema->get<int64_t>() == 1)
        throw Error("Docker schema 1 manifests are not supported; convert the image first");
    if (is_index_media_type(m.media_type))
        throw Error("expected an image manifest but found an image index");
    if (!is_manifest_media_type(m.media_type))
        throw Error("unsupported manifest media type " + display_media_type(m.media_type));
    if (!schema || !schema->is_number_integer() || schema->get<int64_t>() != 2)
        throw Error("image manifest: \"schemaVersion\" must be 2");
    const json* config = member(j, "config");
    if (!config) throw Error("image manifest has no \"config\"");
    m.config = parse_descriptor(*config, "image manifest config");
    if (!m.config.media_type.empty() && m.config.media_type != media::kOciConfig &&
        m.config.media_type != media::kDockerConfig)
        throw Error("not a container image: config media type " + m.config.media_type);
    const json* layers = member(j, "layers");
    if (!layers || !layers->is_array()) throw Error("image manifest has no \"layers\" array");
    if (layers->size() > kMaxLayers)
        throw Error("image manifest has more than " + std::to_string(kMaxLayers) + " layers");
    for (size_t i = 0; i < layers->size(); ++i) {
        Descriptor layer = parse_descriptor((*layers)[i], "layer " + std::to_string(i));
        if (!layer_compression(layer.media_type))
            throw Error("layer " + std::to_string(i) + " has unsupported media type " +
                        display_media_type(layer.media_type));
        m.layers.push_back(std::move(layer));
    }
    return m;
}

ParsedConfig parse_config(std::string_view text, uint64_t max_bytes) {
    json j = parse_json(text, "image config", max_bytes);
    if (!j.is_object()) throw Error("image config is not a JSON object");
    ParsedConfig out;
    ImageConfig& c = out.config;
    std::string os = string_member(j, "os", "image config");
    std::string arch = string_member(j, "architecture", "image config");
    std::string variant = string_member(j, "variant", "image config");
    // The spec requires both; tolerate their absence (some hand-made images) as this platform.
    c.os = os.empty() ? std::string(kHostOs) : os;
    c.architecture = arch.empty() ? std::string(kHostArchitecture) : arch;
    if (c.os != kHostOs || c.architecture != kHostArchitecture) {
        Platform p{c.os, c.architecture, variant};
        throw Error("image is for " + p.to_string() + "; this machine runs " +
                    std::string(kHostArchitecture) + "/" + std::string(kHostOs));
    }

    if (const json* cfg = member(j, "config")) {
        if (!cfg->is_object()) throw Error("image config: \"config\" is not an object");
        constexpr std::string_view what = "image config";
        c.entrypoint = string_array(*cfg, "Entrypoint", what);
        c.cmd = string_array(*cfg, "Cmd", what);
        for (const auto& kv : string_array(*cfg, "Env", what)) {
            auto eq = kv.find('=');
            std::string name = kv.substr(0, eq);
            if (name.empty()) throw Error("image config: environment entry without a name");
            c.env.push_back({name, eq == std::string::npos ? "" : kv.substr(eq + 1)});
        }
        c.user = string_member(*cfg, "User", what);
        c.working_dir = string_member(*cfg, "WorkingDir", what);
        c.labels = string_map(*cfg, "Labels", what);
        c.exposed_ports = object_keys(*cfg, "ExposedPorts", what);
        c.volumes = object_keys(*cfg, "Volumes", what);
    }

    const json* rootfs = member(j, "rootfs");
    if (!rootfs || !rootfs->is_object()) throw Error("image config has no \"rootfs\" object");
    std::string type = string_member(*rootfs, "type", "image config rootfs");
    if (type != "layers")
        throw Error("image config: rootfs type \"" + type + "\" is not \"layers\"");
    out.diff_ids = string_array(*rootfs, "diff_ids", "image config rootfs");
    if (out.diff_ids.size() > kMaxLayers)
        throw Error("image config lists more than " + std::to_string(kMaxLayers) + " layers");
    for (const auto& d : out.diff_ids)
        if (!is_valid_sha256_digest(d))
            throw Error("image config: malformed diff_id \"" + d.substr(0, 80) + "\"");
    return out;
}

std::vector<DockerSaveEntry> parse_docker_save_manifest(std::string_view text, uint64_t max_bytes) {
    json j = parse_json(text, "manifest.json", max_bytes);
    if (!j.is_array()) throw Error("manifest.json is not a JSON array");
    if (j.size() > kMaxIndexEntries) throw Error("manifest.json lists too many images");
    std::vector<DockerSaveEntry> out;
    for (size_t i = 0; i < j.size(); ++i) {
        std::string what = "manifest.json entry " + std::to_string(i);
        if (!j[i].is_object()) throw Error(what + " is not an object");
        DockerSaveEntry e;
        e.config_path = string_member(j[i], "Config", what, true);
        e.repo_tags = string_array(j[i], "RepoTags", what);
        e.layer_paths = string_array(j[i], "Layers", what);
        if (e.layer_paths.size() > kMaxLayers) throw Error(what + " has too many layers");
        out.push_back(std::move(e));
    }
    return out;
}

bool platform_matches_host(const Descriptor& d) {
    if (!d.platform) return true;
    return d.platform->os == kHostOs && d.platform->architecture == kHostArchitecture;
}

NameTag split_name_tag(std::string_view reference) {
    std::string_view r = reference;
    if (auto at = r.find('@'); at != std::string_view::npos) r = r.substr(0, at);
    size_t slash = r.rfind('/');
    size_t colon = r.rfind(':');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash))
        return {std::string(r.substr(0, colon)), std::string(r.substr(colon + 1))};
    return {std::string(r), ""};
}

std::string synthesize_manifest(const Descriptor& config, const std::vector<Descriptor>& layers) {
    auto descriptor_json = [](const Descriptor& d) {
        return json{{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
    };
    json j;
    j["schemaVersion"] = 2;
    j["mediaType"] = media::kOciManifest;
    j["config"] = descriptor_json(config);
    j["layers"] = json::array();
    for (const auto& l : layers) j["layers"].push_back(descriptor_json(l));
    return j.dump();
}

}  // namespace rkt::store::oci
