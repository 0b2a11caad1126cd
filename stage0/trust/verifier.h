// Decides whether an image is signed by a trusted key: each signature is checked against every
// key trusted for the image's name, and only a verified payload is parsed and compared with the
// manifest digests and the repository.
#pragma once

#include <string>
#include <vector>

#include "stage0/trust/keystore.h"
#include "stage0/trust/simple_signing.h"

namespace rkt::trust {

struct Signature {
    std::string payload;    // the exact signed bytes
    std::string signature;  // raw (DER for ECDSA, 64 bytes for Ed25519)
};

struct VerifiedSignature {
    std::string fingerprint;
    std::string scope;  // "root" or "prefix P"
    PayloadClaims claims;
};

// What is being checked: the image name (for key prefixes and the payload's identity), and the
// digests a signature may name (the tag's manifest or index, and the platform manifest chosen
// from it).
struct VerifyRequest {
    std::string image_name;  // "127.0.0.1:5000/x/test"
    std::vector<std::string> digests;
};

// Returns the first signature that verifies with a trusted key and names one of the digests and
// the image's repository; throws Error with one line saying why none does.
VerifiedSignature verify_signatures(const VerifyRequest& req, const std::vector<Signature>& sigs,
                                    const std::vector<TrustedKey>& keys);

}  // namespace rkt::trust
