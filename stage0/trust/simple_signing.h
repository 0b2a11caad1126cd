// The cosign / containers "simple signing" payload: a small JSON document naming the manifest
// digest and the image reference, signed as bytes. It is parsed only after its signature has
// been verified, and strictly: unknown members under "critical" are rejected.
#pragma once

#include <string>
#include <string_view>

namespace rkt::trust {

inline constexpr std::string_view kCosignType = "cosign container image signature";
inline constexpr std::string_view kAtomicType = "atomic container signature";

struct PayloadClaims {
    std::string type;
    std::string docker_reference;  // e.g. "127.0.0.1:5000/x/test:v1"
    std::string manifest_digest;   // "sha256:<hex>"
};

// The payload cosign writes (keys in lower case, "optional": null).
std::string make_payload(const std::string& docker_reference, const std::string& manifest_digest);

// Parses a verified payload; throws Error naming the first problem.
PayloadClaims parse_payload(std::string_view payload);

// The repository part of a docker reference ("host/repo:tag" and "host/repo@sha256:…" give
// "host/repo").
std::string reference_repository(std::string_view docker_reference);

}  // namespace rkt::trust
