// Fuzz target for what a registry (or anyone between it and us) sends: manifests and indexes
// with their Content-Type, WWW-Authenticate challenges, token server answers, error bodies,
// header lines, Location values, signature manifests, and the image references that name them.
// Every parser must either accept or throw rkt::Error; any other exception is a finding.
//
// Input: byte 0 selects the parser, the rest is its data. Parsers of two values (a header and a
// body, a base URL and a Location) split the data at the first newline.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "common/error.h"
#include "stage0/registry/auth.h"
#include "stage0/registry/http_client.h"
#include "stage0/registry/manifest.h"
#include "stage0/registry/reference.h"
#include "stage0/registry/registry_client.h"
#include "stage0/registry/signatures.h"
#include "stage0/trust/keys.h"

namespace {

using namespace rkt::registry;

std::pair<std::string_view, std::string_view> split(std::string_view data) {
    auto nl = data.find('\n');
    if (nl == std::string_view::npos) return {std::string_view(), data};
    return {data.substr(0, nl), data.substr(nl + 1)};
}

template <typename Fn>
void refused_ok(Fn fn) {
    try {
        fn();
    } catch (const rkt::Error&) {
        // Refusing hostile input is the expected outcome for most of it.
    }
}

bool has_control(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
    return false;
}

void manifest(std::string_view data) {
    const auto parts = split(data);
    const std::string_view content_type = parts.first, body = parts.second;
    for (bool any_layer_type : {false, true}) {
        refused_ok([&] {
            Manifest m = parse_manifest(body, content_type, any_layer_type);
            if (m.is_index) {
                (void)select_platform(m, host_platform());
                (void)select_platform(m, {"linux", "arm", "v7"});
                for (const auto& d : m.manifests)
                    if (d.platform) (void)platform_string(*d.platform);
            }
        });
    }
}

void challenges(std::string_view data) {
    refused_ok([&] {
        for (const auto& c : parse_challenges(data)) {
            if (c.scheme.empty()) std::abort();
            (void)c.param("realm");
            (void)c.param("service");
        }
    });
}

void error_body(std::string_view data) {
    std::string text = registry_error_text(data);
    // What ends up in an error message: one line, bounded.
    if (has_control(text) || text.size() > 203) std::abort();
    std::string line = one_line(data);
    if (has_control(line) || line.size() > 203) std::abort();
}

void header_line(std::string_view data) {
    if (auto h = parse_header_line(data))
        for (char c : h->first)
            if (c >= 'A' && c <= 'Z') std::abort();
}

void location(std::string_view data) {
    const auto parts = split(data);
    const std::string_view base = parts.first, loc = parts.second;
    refused_ok([&] {
        std::string next = resolve_url(std::string(base), std::string(loc));
        (void)url_origin(next);
    });
}

void reference(std::string_view data) {
    refused_ok([&] {
        ImageReference ref = parse_docker_url(data);
        // What the store records must parse back to the same reference.
        ImageReference again = parse_reference(ref.to_string());
        if (again.to_string() != ref.to_string() || again.api_host() != ref.api_host())
            std::abort();
    });
}

void signature_manifest(std::string_view data) {
    auto [content_type, body] = split(data);
    const std::string payload_digest = "sha256:" + std::string(64, 'a');
    for (const auto& d : signatures_to_keep(body, content_type, payload_digest, "c2ln")) {
        if (d.media_type != media::kSimpleSigning) std::abort();
        // The annotation is decoded when the signatures are fetched.
        auto ann = d.annotations.find(std::string(kSignatureAnnotation));
        if (ann != d.annotations.end())
            refused_ok([&] { (void)rkt::trust::base64_decode(ann->second); });
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 8) {
        case 0:
            manifest(input);
            break;
        case 1:
            challenges(input);
            break;
        case 2:
            refused_ok([&] { (void)parse_token_response(input); });
            break;
        case 3:
            error_body(input);
            break;
        case 4:
            header_line(input);
            break;
        case 5:
            location(input);
            break;
        case 6:
            reference(input);
            break;
        case 7:
            signature_manifest(input);
            break;
    }
    return 0;
}
