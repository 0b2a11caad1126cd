// Fuzz target for image signatures (stage0/trust): the simple-signing payload parser, base64 of
// the signature annotations, signature verification over hostile bytes, the whole check of a
// payload that a trusted key did sign (so the fuzzer reaches the code behind the signature), and
// PEM public keys.
//
// Input: byte 0 selects the part, the rest is its data.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "stage0/trust/keys.h"
#include "stage0/trust/keystore.h"
#include "stage0/trust/simple_signing.h"
#include "stage0/trust/verifier.h"

namespace {

using namespace rkt::trust;

// Throwaway keys made for this fuzz target alone; they sign nothing anywhere else.
constexpr std::string_view kEd25519Key =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEILZoTUyM9j//XBjTz3WZYj5KuXzQxb2QW38BIg/XEVBh\n"
    "-----END PRIVATE KEY-----\n";
constexpr std::string_view kEcdsaKey =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgdCs+E/NxZuLetakl\n"
    "f6OVDlwqq/SsTBztAXClkE2DhcuhRANCAATdcqoN6AusizMyvYowV9XsSia8vZwb\n"
    "35odALJAEIiVWY9LYYdxG78+0ZUAHCsXcW3Sdokla1ms74DMoRwXWtVX\n"
    "-----END PRIVATE KEY-----\n";

const std::string kImage = "127.0.0.1:5000/x/test";
const std::string kDigest = "sha256:" + std::string(64, 'a');

struct Keys {
    PrivateKey signer = PrivateKey::from_pem(kEd25519Key);
    std::vector<PublicKey> public_keys;
    std::vector<TrustedKey> trusted;
    Keys() {
        for (std::string_view pem : {kEd25519Key, kEcdsaKey})
            public_keys.push_back(PrivateKey::from_pem(pem).public_key());
        for (const auto& k : public_keys)
            trusted.push_back({k.fingerprint(), kImage, k.type(), "", k.pem()});
    }
};

const Keys& keys() {
    static const Keys k;
    return k;
}

template <typename Fn>
void refused_ok(Fn fn) {
    try {
        fn();
    } catch (const rkt::Error&) {
        // Refusing hostile input is the expected outcome for most of it.
    }
}

void payload(std::string_view data) {
    refused_ok([&] {
        PayloadClaims c = parse_payload(data);
        if (c.type != kCosignType && c.type != kAtomicType) std::abort();
        (void)reference_repository(c.docker_reference);
    });
}

void base64(std::string_view data) {
    refused_ok([&] {
        std::string decoded = base64_decode(data);
        if (base64_decode(base64_encode(decoded)) != decoded) std::abort();
    });
}

// A hostile signature (and payload) against every trusted key: the first byte says how long the
// signature is.
void verify(std::string_view data) {
    if (data.empty()) return;
    size_t n = std::min<size_t>(static_cast<uint8_t>(data[0]), data.size() - 1);
    std::string_view signature = data.substr(1, n), signed_bytes = data.substr(1 + n);
    for (const auto& k : keys().public_keys)
        refused_ok([&] { (void)k.verify(signed_bytes, signature); });
}

// A payload signed by a trusted key: everything after the signature check sees it.
void signed_payload(std::string_view data) {
    Signature sig{std::string(data), keys().signer.sign(data)};
    refused_ok([&] {
        VerifiedSignature v = verify_signatures({kImage, {kDigest}}, {sig}, keys().trusted);
        if (v.claims.manifest_digest != kDigest) std::abort();
        if (reference_repository(v.claims.docker_reference) != kImage) std::abort();
    });
}

void public_key(std::string_view data) {
    refused_ok([&] {
        PublicKey k = PublicKey::from_pem(data);
        if (k.type() != "ed25519" && k.type() != "ecdsa-p256") std::abort();
        if (PublicKey::from_pem(k.pem()).fingerprint() != k.fingerprint()) std::abort();
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 5) {
        case 0:
            payload(input);
            break;
        case 1:
            base64(input);
            break;
        case 2:
            verify(input);
            break;
        case 3:
            signed_payload(input);
            break;
        case 4:
            public_key(input);
            break;
    }
    return 0;
}
