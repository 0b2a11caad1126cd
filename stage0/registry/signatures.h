// cosign's "legacy" signature storage in a registry: the tag sha256-<hex>.sig of the signed
// manifest's repository holds an OCI manifest with one simple-signing layer per signature, the
// signature itself (base64) in the layer annotation dev.cosignproject.cosign/signature.
#pragma once

#include <string>
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

// Adds a signature for `digest`, keeping the ones already there.
void push_signature(RegistryClient& client, HttpClient& http, const std::string& digest,
                    const trust::Signature& sig);

}  // namespace rkt::registry
