#include "stage0/registry/signatures.h"

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/error.h"
#include "common/log.h"
#include "stage0/trust/keys.h"

namespace rkt::registry {

namespace {

constexpr size_t kMaxPayload = 64 << 10;
constexpr size_t kMaxSignatures = 32;

using json = nlohmann::json;

}  // namespace

std::string signature_tag(const std::string& digest) {
    std::string tag = digest;
    if (auto colon = tag.find(':'); colon != std::string::npos) tag[colon] = '-';
    return tag + ".sig";
}

std::vector<trust::Signature> fetch_signatures(RegistryClient& client, HttpClient& http,
                                               const std::string& digest) {
    auto fetched = client.find_manifest(http, signature_tag(digest));
    if (!fetched) return {};
    Manifest m = with_context("signature manifest " + signature_tag(digest), [&] {
        return parse_manifest(fetched->bytes, fetched->content_type, true);
    });
    if (m.is_index) return {};
    std::vector<trust::Signature> out;
    for (const auto& layer : m.layers) {
        if (layer.media_type != media::kSimpleSigning) continue;
        auto ann = layer.annotations.find(std::string(kSignatureAnnotation));
        if (ann == layer.annotations.end()) continue;
        if (out.size() >= kMaxSignatures) break;
        trust::Signature sig;
        try {
            sig.signature = trust::base64_decode(ann->second);
        } catch (const Error& e) {
            log::debug("skipping a signature with a malformed annotation: " +
                       std::string(e.what()));
            continue;
        }
        sig.payload = client.get_blob_bytes(http, layer, kMaxPayload);
        out.push_back(std::move(sig));
    }
    return out;
}

std::vector<Descriptor> signatures_to_keep(std::string_view manifest, std::string_view content_type,
                                           const std::string& payload_digest,
                                           const std::string& encoded_signature) {
    Manifest old;
    try {
        old = parse_manifest(manifest, content_type, true);
    } catch (const Error& e) {
        log::debug("replacing a malformed signature manifest: " + std::string(e.what()));
        return {};
    }
    std::vector<Descriptor> keep;
    for (const auto& l : old.layers) {
        if (l.media_type != media::kSimpleSigning) continue;
        auto ann = l.annotations.find(std::string(kSignatureAnnotation));
        bool same = l.digest == payload_digest && ann != l.annotations.end() &&
                    ann->second == encoded_signature;
        if (!same) keep.push_back(l);
    }
    return keep;
}

void push_signature(RegistryClient& client, HttpClient& http, const std::string& digest,
                    const trust::Signature& sig) {
    std::string encoded = trust::base64_encode(sig.signature);
    std::string payload_digest = sha256_digest(sig.payload);
    json layers = json::array();
    if (auto existing = client.find_manifest(http, signature_tag(digest))) {
        // Rebuilt from the checked descriptors: nothing of the old document is copied blindly.
        for (const auto& l :
             signatures_to_keep(existing->bytes, existing->content_type, payload_digest, encoded))
            layers.push_back({{"mediaType", l.media_type},
                              {"digest", l.digest},
                              {"size", l.size},
                              {"annotations", l.annotations}});
    }
    client.put_blob(http, payload_digest, sig.payload);
    layers.push_back({{"mediaType", std::string(media::kSimpleSigning)},
                      {"digest", payload_digest},
                      {"size", sig.payload.size()},
                      {"annotations", {{std::string(kSignatureAnnotation), encoded}}}});
    json diff_ids = json::array();
    for (const auto& l : layers) diff_ids.push_back(l["digest"]);
    json config = {{"architecture", ""},
                   {"os", ""},
                   {"config", json::object()},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
    std::string config_bytes = config.dump();
    std::string config_digest = sha256_digest(config_bytes);
    client.put_blob(http, config_digest, config_bytes);
    json manifest = {{"schemaVersion", 2},
                     {"mediaType", std::string(media::kOciManifest)},
                     {"config",
                      {{"mediaType", std::string(media::kOciConfig)},
                       {"digest", config_digest},
                       {"size", config_bytes.size()}}},
                     {"layers", layers}};
    client.put_manifest(http, signature_tag(digest), manifest.dump(),
                        std::string(media::kOciManifest));
}

}  // namespace rkt::registry
