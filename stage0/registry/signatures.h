// cosign's "legacy" signature storage in a registry: the tag sha256-<hex>.sig of the signed
// manifest's repository holds an OCI manifest with one simple-signing layer per signature, the
// signature itself (base64) in the layer annotation dev.cosignproject.cosign/signature.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "stage0/registry/registry_client.h"
#include "stage0/trust/verifier.h"

namespace rkt::registry {

inline constexpr std::string_view kSignatureAnnotation = "dev.cosignproject.cosign/signature";

// "sha256:abc…" -> "sha256-abc….sig"
std::string signature_tag(const std::string& digest);

// The signatures stored for `digest` (empty when there is no signature tag).
std::vector<trust::Signature> fetch_signatures(RegistryClient& client, HttpClient& http,
                                               const std::string& digest);

// The layers of an existing signature manifest that adding a signature keeps: its well-formed
// simple-signing layers other than the one being added (same payload and signature). A manifest
// that does not parse keeps nothing.
std::vector<Descriptor> signatures_to_keep(std::string_view manifest, std::string_view content_type,
                                           const std::string& payload_digest,
                                           const std::string& encoded_signature);

// Adds a signature for `digest`, keeping the ones already there.
void push_signature(RegistryClient& client, HttpClient& http, const std::string& digest,
                    const trust::Signature& sig);

}  // namespace rkt::registry
