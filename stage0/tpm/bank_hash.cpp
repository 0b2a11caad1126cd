#include "stage0/tpm/bank_hash.h"

#include <nettle/sha1.h>
#include <nettle/sha2.h>

#include "common/error.h"

namespace rkt::tpm {

namespace {

// One nettle hash, run over the parts in order.
template <typename Ctx, void (*Init)(Ctx*), void (*Update)(Ctx*, size_t, const uint8_t*),
          void (*Digest)(Ctx*, size_t, uint8_t*), size_t Size>
std::vector<uint8_t> hash_parts(std::initializer_list<std::string_view> parts) {
    Ctx ctx;
    Init(&ctx);
    for (std::string_view p : parts)
        Update(&ctx, p.size(), reinterpret_cast<const uint8_t*>(p.data()));
    std::vector<uint8_t> out(Size);
    Digest(&ctx, out.size(), out.data());
    return out;
}

std::vector<uint8_t> hash(std::string_view alg, std::initializer_list<std::string_view> parts) {
    if (alg == "sha1")
        return hash_parts<sha1_ctx, nettle_sha1_init, nettle_sha1_update, nettle_sha1_digest,
                          SHA1_DIGEST_SIZE>(parts);
    if (alg == "sha256")
        return hash_parts<sha256_ctx, nettle_sha256_init, nettle_sha256_update,
                          nettle_sha256_digest, SHA256_DIGEST_SIZE>(parts);
    if (alg == "sha384")
        return hash_parts<sha384_ctx, nettle_sha384_init, nettle_sha512_update,
                          nettle_sha384_digest, SHA384_DIGEST_SIZE>(parts);
    if (alg == "sha512")
        return hash_parts<sha512_ctx, nettle_sha512_init, nettle_sha512_update,
                          nettle_sha512_digest, SHA512_DIGEST_SIZE>(parts);
    throw Error("unsupported PCR bank '" + std::string(alg) +
                "' (rkt uses sha1, sha256, sha384, "
                "sha512)");
}

std::string_view bytes_of(const std::vector<uint8_t>& v) {
    return {reinterpret_cast<const char*>(v.data()), v.size()};
}

}  // namespace

size_t bank_digest_size(std::string_view alg) {
    if (alg == "sha1") return SHA1_DIGEST_SIZE;
    if (alg == "sha256") return SHA256_DIGEST_SIZE;
    if (alg == "sha384") return SHA384_DIGEST_SIZE;
    if (alg == "sha512") return SHA512_DIGEST_SIZE;
    return 0;
}

bool is_supported_bank(std::string_view alg) {
    return bank_digest_size(alg) != 0;
}

std::vector<uint8_t> bank_digest(std::string_view alg, std::string_view data) {
    return hash(alg, {data});
}

std::vector<uint8_t> extended(std::string_view alg, const std::vector<uint8_t>& old,
                              const std::vector<uint8_t>& digest) {
    return hash(alg, {bytes_of(old), bytes_of(digest)});
}

std::vector<uint8_t> reset_value(std::string_view alg) {
    size_t size = bank_digest_size(alg);
    if (!size) throw Error("unsupported PCR bank '" + std::string(alg) + "'");
    return std::vector<uint8_t>(size, 0);
}

std::optional<std::vector<uint8_t>> find_bank(const std::vector<BankValue>& values,
                                              std::string_view alg) {
    for (const auto& v : values)
        if (v.alg == alg) return v.bytes;
    return std::nullopt;
}

std::vector<std::string> bank_algs(const std::vector<BankValue>& values) {
    std::vector<std::string> out;
    out.reserve(values.size());
    for (const auto& v : values) out.push_back(v.alg);
    return out;
}

bool same_values(const std::vector<BankValue>& a, const std::vector<BankValue>& b) {
    if (a.size() != b.size()) return false;
    for (const auto& v : a) {
        auto other = find_bank(b, v.alg);
        if (!other || *other != v.bytes) return false;
    }
    return true;
}

void extend_banks(std::vector<BankValue>& pcr, const std::vector<BankValue>& digests) {
    for (auto& v : pcr)
        if (auto d = find_bank(digests, v.alg)) v.bytes = extended(v.alg, v.bytes, *d);
}

}  // namespace rkt::tpm
