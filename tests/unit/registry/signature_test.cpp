#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/digest.h"
#include "common/error.h"
#include "stage0/trust/keys.h"
#include "stage0/trust/simple_signing.h"
#include "stage0/trust/verifier.h"

using namespace rkt::trust;

namespace {

// A fresh private key as PEM: "EC" (P-256) or "ED25519".
std::string new_key_pem(const char* type) {
    EVP_PKEY* k = std::string(type) == "EC" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                                            : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
    EXPECT_NE(k, nullptr);
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string pem(data, static_cast<size_t>(n));
    BIO_free(b);
    EVP_PKEY_free(k);
    return pem;
}

const std::string kName = "127.0.0.1:5000/x/test";
const std::string kDigest = "sha256:" + std::string(64, 'a');
const std::string kOther = "sha256:" + std::string(64, 'b');

TrustedKey trusted(const PrivateKey& k, std::string prefix = kName) {
    PublicKey pub = k.public_key();
    return {pub.fingerprint(), prefix, pub.type(), "", pub.pem()};
}

Signature sign(const PrivateKey& k, const std::string& payload) {
    return {payload, k.sign(payload)};
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const rkt::Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

class SignatureTest : public ::testing::TestWithParam<const char*> {};

TEST_P(SignatureTest, VerifiesAndRejects) {
    PrivateKey key = PrivateKey::from_pem(new_key_pem(GetParam()));
    PrivateKey other = PrivateKey::from_pem(new_key_pem(GetParam()));
    std::string payload = make_payload(kName + ":v1", kDigest);
    Signature good = sign(key, payload);

    // Good signature, right key.
    auto v = verify_signatures({kName, {kDigest}}, {good}, {trusted(key)});
    EXPECT_EQ(v.fingerprint, key.public_key().fingerprint());
    EXPECT_EQ(v.claims.manifest_digest, kDigest);
    EXPECT_EQ(v.scope, "prefix " + kName);

    // Wrong key.
    auto err = error_of([&] { verify_signatures({kName, {kDigest}}, {good}, {trusted(other)}); });
    EXPECT_NE(err.find("by no key trusted"), std::string::npos) << err;
    EXPECT_NE(err.find("--insecure-options=image"), std::string::npos) << err;

    // Signature for another digest.
    err = error_of([&] { verify_signatures({kName, {kOther}}, {good}, {trusted(key)}); });
    EXPECT_NE(err.find("is for manifest " + kDigest), std::string::npos) << err;

    // Tampered payload (the signature no longer matches).
    Signature tampered = good;
    tampered.payload = make_payload(kName + ":v1", kOther);
    err = error_of([&] { verify_signatures({kName, {kOther}}, {tampered}, {trusted(key)}); });
    EXPECT_NE(err.find("by no key trusted"), std::string::npos) << err;

    // Tampered signature bytes.
    Signature flipped = good;
    flipped.signature[flipped.signature.size() / 2] ^= 1;
    EXPECT_THROW(verify_signatures({kName, {kDigest}}, {flipped}, {trusted(key)}), rkt::Error);

    // A signature for another repository.
    Signature elsewhere = sign(key, make_payload("127.0.0.1:5000/x/other:v1", kDigest));
    err = error_of([&] { verify_signatures({kName, {kDigest}}, {elsewhere}, {trusted(key)}); });
    EXPECT_NE(err.find("names image"), std::string::npos) << err;

    // Unsigned; no keys.
    EXPECT_NE(error_of([&] {
                  verify_signatures({kName, {kDigest}}, {}, {trusted(key)});
              }).find("not signed"),
              std::string::npos);
    EXPECT_NE(error_of([&] {
                  verify_signatures({kName, {kDigest}}, {good}, {});
              }).find("no trusted key"),
              std::string::npos);

    // One good signature among bad ones; the index digest is acceptable too.
    auto v2 = verify_signatures({kName, {kOther, kDigest}}, {flipped, elsewhere, good},
                                {trusted(other), trusted(key)});
    EXPECT_EQ(v2.fingerprint, key.public_key().fingerprint());
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, SignatureTest, ::testing::Values("EC", "ED25519"));

TEST(Payload, RoundTrip) {
    auto c = parse_payload(make_payload("h/r:t", kDigest));
    EXPECT_EQ(c.docker_reference, "h/r:t");
    EXPECT_EQ(c.manifest_digest, kDigest);
    EXPECT_EQ(c.type, kCosignType);
}

TEST(Payload, CosignCapitalisationAndOptional) {
    std::string p =
        R"({"critical":{"identity":{"docker-reference":"h/r"},"image":{"Docker-manifest-digest":")" +
        kDigest + R"("},"type":"cosign container image signature"},"optional":{"creator":"x"}})";
    EXPECT_EQ(parse_payload(p).manifest_digest, kDigest);
}

TEST(Payload, StrictAboutCritical) {
    auto bad = [](const std::string& p) { EXPECT_THROW(parse_payload(p), rkt::Error) << p; };
    std::string img = R"("image":{"docker-manifest-digest":")" + kDigest + R"("})";
    std::string id = R"("identity":{"docker-reference":"h/r"})";
    std::string type = R"("type":"cosign container image signature")";
    bad(R"({"critical":{)" + id + "," + img + "," + type + R"(,"extra":1}})");
    bad(R"({"critical":{)" + id + "," + img + R"(,"type":"something else"}})");
    bad(R"({"critical":{)" + id + "," + type + "}}");
    bad(R"({"critical":{"identity":{"docker-reference":"h/r","x":1},)" + img + "," + type + "}}");
    bad(R"({"critical":{)" + id + R"(,"image":{"docker-manifest-digest":"sha256:12"},)" + type +
        "}}");
    bad(R"({"critical":{)" + id + "," + img + "," + type + R"(},"optional":3})");
    bad(R"({"critical":{)" + id + "," + img + "," + type + R"(},"surprise":{}})");
    bad("[]");
    bad("not json");
}

TEST(Payload, RepositoryOfReference) {
    EXPECT_EQ(reference_repository("127.0.0.1:5000/x/y:v1"), "127.0.0.1:5000/x/y");
    EXPECT_EQ(reference_repository("127.0.0.1:5000/x/y@" + kDigest), "127.0.0.1:5000/x/y");
    EXPECT_EQ(reference_repository("127.0.0.1:5000/x/y"), "127.0.0.1:5000/x/y");
}

TEST(Keys, OpenSslCompatibleEcdsaSignatures) {
    // An ECDSA signature is DER; the same bytes `openssl dgst -sha256 -verify` accepts.
    PrivateKey key = PrivateKey::from_pem(new_key_pem("EC"));
    std::string sig = key.sign("hello");
    ASSERT_GT(sig.size(), 8u);
    EXPECT_EQ(static_cast<unsigned char>(sig[0]), 0x30);  // DER SEQUENCE
    EXPECT_TRUE(key.public_key().verify("hello", sig));
    EXPECT_FALSE(key.public_key().verify("hellO", sig));
}

TEST(Keys, RejectsUnsupportedAndMalformedKeys) {
    EXPECT_THROW(PublicKey::from_pem("not a key"), rkt::Error);
    PrivateKey rsa_like = PrivateKey::from_pem(new_key_pem("EC"));  // a valid one for contrast
    (void)rsa_like;
    EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, rsa);
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string pem(data, static_cast<size_t>(n));
    BIO_free(b);
    EVP_PKEY_free(rsa);
    auto err = error_of([&] { PublicKey::from_pem(pem); });
    EXPECT_NE(err.find("only ECDSA P-256 and Ed25519"), std::string::npos) << err;
}

TEST(Keys, FingerprintIsSha256OfSpki) {
    PublicKey a = PrivateKey::from_pem(new_key_pem("ED25519")).public_key();
    EXPECT_EQ(a.fingerprint().size(), 64u);
    EXPECT_EQ(PublicKey::from_pem(a.pem()).fingerprint(), a.fingerprint());
}

TEST(Base64, RoundTripAndRejects) {
    for (const std::string& s :
         std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)})
        EXPECT_EQ(base64_decode(base64_encode(s)), s);
    EXPECT_THROW(base64_decode("abc"), rkt::Error);
    EXPECT_THROW(base64_decode("ab!="), rkt::Error);
}
