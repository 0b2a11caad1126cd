#include "stage0/trust/verifier.h"

#include <algorithm>

#include "common/error.h"

namespace rkt::trust {

VerifiedSignature verify_signatures(const VerifyRequest& req, const std::vector<Signature>& sigs,
                                    const std::vector<TrustedKey>& keys) {
    const std::string insecure_hint = "; to fetch it anyway, pass --insecure-options=image";
    if (sigs.empty()) throw Error("image " + req.image_name + " is not signed" + insecure_hint);
    if (keys.empty())
        throw Error("no trusted key covers " + req.image_name +
                    ": add the signer's key with "
                    "`rkt trust --prefix=" +
                    req.image_name + " KEY.pem`" + insecure_hint);
    std::vector<PublicKey> parsed;
    for (const auto& k : keys) parsed.push_back(PublicKey::from_pem(k.pem));

    std::string problem;  // the most telling reason a verified signature was still rejected
    for (const auto& sig : sigs) {
        for (size_t i = 0; i < parsed.size(); ++i) {
            if (!parsed[i].verify(sig.payload, sig.signature)) continue;
            // Only now is the payload trusted enough to be parsed.
            PayloadClaims claims;
            try {
                claims = parse_payload(sig.payload);
            } catch (const Error& e) {
                problem = std::string("a signature by key ") + keys[i].fingerprint.substr(0, 16) +
                          " has an " + e.what();
                continue;
            }
            if (std::find(req.digests.begin(), req.digests.end(), claims.manifest_digest) ==
                req.digests.end()) {
                problem = "a signature by key " + keys[i].fingerprint.substr(0, 16) +
                          " is for manifest " + claims.manifest_digest + ", not this image's " +
                          (req.digests.empty() ? std::string("?") : req.digests.front());
                continue;
            }
            if (reference_repository(claims.docker_reference) != req.image_name) {
                problem = "a signature by key " + keys[i].fingerprint.substr(0, 16) +
                          " names image \"" + claims.docker_reference.substr(0, 200) + "\", not " +
                          req.image_name;
                continue;
            }
            return {keys[i].fingerprint, keys[i].scope(), claims};
        }
    }
    if (!problem.empty())
        throw Error("image " + req.image_name + " is not trusted: " + problem + insecure_hint);
    throw Error("image " + req.image_name + " is signed, but by no key trusted for it (" +
                std::to_string(keys.size()) +
                " trusted key(s) checked; add the signer's key with "
                "`rkt trust --prefix=" +
                req.image_name + " KEY.pem`)" + insecure_hint);
}

}  // namespace rkt::trust
