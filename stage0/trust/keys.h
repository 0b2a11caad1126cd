// Public and private keys for image signatures, on OpenSSL's EVP API: ECDSA P-256 (with
// SHA-256, DER signatures, as cosign) and Ed25519. The key type is fixed by the key file.
#pragma once

#include <memory>
#include <string>
#include <string_view>

typedef struct evp_pkey_st EVP_PKEY;

namespace rkt::trust {

struct PkeyDeleter {
    void operator()(EVP_PKEY* k) const;
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

class PublicKey {
public:
    // Parses a PEM "PUBLIC KEY" (PKIX SubjectPublicKeyInfo). Throws Error for other formats and
    // for key types other than ECDSA P-256 and Ed25519.
    static PublicKey from_pem(std::string_view pem);

    // sha256 of the DER SubjectPublicKeyInfo, lower-case hex: the key's name in the keystore.
    const std::string& fingerprint() const { return fingerprint_; }
    // "ecdsa-p256" or "ed25519".
    const std::string& type() const { return type_; }
    // The canonical PEM text.
    const std::string& pem() const { return pem_; }
    // True when `signature` is a valid signature of `payload` by this key.
    bool verify(std::string_view payload, std::string_view signature) const;

private:
    Pkey key_;
    std::string fingerprint_, type_, pem_;
};

class PrivateKey {
public:
    // Parses an unencrypted PEM private key (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY").
    static PrivateKey from_pem(std::string_view pem);
    std::string sign(std::string_view payload) const;
    PublicKey public_key() const;

private:
    Pkey key_;
};

std::string base64_encode(std::string_view data);
// Throws Error on characters outside the base64 alphabet.
std::string base64_decode(std::string_view text);

}  // namespace rkt::trust
