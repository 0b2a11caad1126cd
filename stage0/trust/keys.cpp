#include "stage0/trust/keys.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <vector>

#include "common/digest.h"
#include "common/error.h"

namespace rkt::trust {

namespace {

struct BioDeleter {
    void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;

struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

Bio memory_bio(std::string_view data) {
    Bio b(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    if (!b) throw Error("out of memory");
    return b;
}

// "ecdsa-p256", "ed25519", or "" for anything else.
std::string key_type(EVP_PKEY* k) {
    if (EVP_PKEY_is_a(k, "ED25519")) return "ed25519";
    if (EVP_PKEY_is_a(k, "EC")) {
        char group[64] = {0};
        size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &len) &&
            std::string_view(group) == "prime256v1")
            return "ecdsa-p256";
    }
    return "";
}

// ECDSA signs a SHA-256 digest; Ed25519 signs the message itself (no digest).
const EVP_MD* digest_for(const std::string& type) {
    return type == "ed25519" ? nullptr : EVP_sha256();
}

}  // namespace

void PkeyDeleter::operator()(EVP_PKEY* k) const {
    EVP_PKEY_free(k);
}

PublicKey PublicKey::from_pem(std::string_view pem) {
    if (pem.size() > 64 << 10) throw Error("the key file is larger than 64 KiB");
    Bio bio = memory_bio(pem);
    PublicKey k;
    k.key_.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!k.key_)
        throw Error(
            "not a PEM public key (expected \"-----BEGIN PUBLIC KEY-----\"; OpenPGP keys "
            "are not supported)");
    k.type_ = key_type(k.key_.get());
    if (k.type_.empty())
        throw Error("unsupported key type: only ECDSA P-256 and Ed25519 public keys are accepted");
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(k.key_.get(), &der);
    if (len <= 0) throw Error("cannot encode the public key");
    std::string der_str(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
    k.fingerprint_ = sha256_hex(der_str);
    Bio out(BIO_new(BIO_s_mem()));
    if (!out || PEM_write_bio_PUBKEY(out.get(), k.key_.get()) != 1)
        throw Error("cannot encode the public key");
    char* data = nullptr;
    long n = BIO_get_mem_data(out.get(), &data);
    k.pem_.assign(data, static_cast<size_t>(n));
    return k;
}

bool PublicKey::verify(std::string_view payload, std::string_view signature) const {
    MdCtx ctx(EVP_MD_CTX_new());
    if (!ctx) throw Error("out of memory");
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, digest_for(type_), nullptr, key_.get()) != 1)
        return false;
    int rc = EVP_DigestVerify(
        ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
        reinterpret_cast<const unsigned char*>(payload.data()), payload.size());
    return rc == 1;
}

PrivateKey PrivateKey::from_pem(std::string_view pem) {
    if (pem.size() > 64 << 10) throw Error("the key file is larger than 64 KiB");
    Bio bio = memory_bio(pem);
    PrivateKey k;
    // An empty passphrase callback: encrypted keys fail instead of prompting.
    auto no_pass = [](char*, int, int, void*) -> int { return 0; };
    k.key_.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_pass, nullptr));
    if (!k.key_)
        throw Error(
            "not an unencrypted PEM private key (make one with `openssl genpkey "
            "-algorithm ed25519` or `openssl ecparam -name prime256v1 -genkey -noout`)");
    if (key_type(k.key_.get()).empty())
        throw Error("unsupported key type: only ECDSA P-256 and Ed25519 keys can sign");
    return k;
}

std::string PrivateKey::sign(std::string_view payload) const {
    MdCtx ctx(EVP_MD_CTX_new());
    if (!ctx) throw Error("out of memory");
    if (EVP_DigestSignInit(ctx.get(), nullptr, digest_for(key_type(key_.get())), nullptr,
                           key_.get()) != 1)
        throw Error("cannot initialise signing");
    size_t len = 0;
    auto* in = reinterpret_cast<const unsigned char*>(payload.data());
    if (EVP_DigestSign(ctx.get(), nullptr, &len, in, payload.size()) != 1)
        throw Error("cannot sign");
    std::vector<unsigned char> sig(len);
    if (EVP_DigestSign(ctx.get(), sig.data(), &len, in, payload.size()) != 1)
        throw Error("cannot sign");
    return std::string(reinterpret_cast<char*>(sig.data()), len);
}

PublicKey PrivateKey::public_key() const {
    Bio out(BIO_new(BIO_s_mem()));
    if (!out || PEM_write_bio_PUBKEY(out.get(), key_.get()) != 1)
        throw Error("cannot derive the public key");
    char* data = nullptr;
    long n = BIO_get_mem_data(out.get(), &data);
    return PublicKey::from_pem(std::string_view(data, static_cast<size_t>(n)));
}

std::string base64_encode(std::string_view data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(data.data()),
                            static_cast<int>(data.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string base64_decode(std::string_view text) {
    std::string clean;
    for (char c : text)
        if (c != '\n' && c != '\r' && c != ' ') clean += c;
    if (clean.size() % 4 != 0) throw Error("malformed base64 (length not a multiple of 4)");
    for (char c : clean)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=')
            throw Error("malformed base64");
    std::string out(clean.size() / 4 * 3 + 1, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(clean.data()),
                            static_cast<int>(clean.size()));
    if (n < 0) throw Error("malformed base64");
    size_t pad = 0;
    if (!clean.empty() && clean.back() == '=') ++pad;
    if (clean.size() > 1 && clean[clean.size() - 2] == '=') ++pad;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

}  // namespace rkt::trust
