// TpmDevice on tpm2-tss ESAPI (the calls are loaded on demand, stage0/tpm/tss2_loader.cpp).
#include "stage0/tpm/tpm_device.h"

#include <sys/stat.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

#include "common/digest.h"
#include "common/error.h"
#include "common/file_lock.h"
#include "common/fs.h"
#include "stage0/trust/keys.h"

namespace rkt::tpm {
namespace {

// The quote's PCR file is tpm2-tools' C structs as they lie in memory, which only matches ours
// on the little-endian hosts tpm2-tools writes them on.
static_assert(std::endian::native == std::endian::little);

struct HashAlg {
    TPM2_ALG_ID id;
    const char* name;
    size_t size;
};

constexpr std::array<HashAlg, 4> kHashes = {{
    {TPM2_ALG_SHA1, "sha1", 20},
    {TPM2_ALG_SHA256, "sha256", 32},
    {TPM2_ALG_SHA384, "sha384", 48},
    {TPM2_ALG_SHA512, "sha512", 64},
}};

const HashAlg* hash_by_id(TPM2_ALG_ID id) {
    for (const auto& h : kHashes)
        if (h.id == id) return &h;
    return nullptr;
}

const HashAlg& hash_by_name(const std::string& name) {
    for (const auto& h : kHashes)
        if (name == h.name) return h;
    throw Error("unknown PCR bank \"" + name + "\" (expected sha1, sha256, sha384 or sha512)");
}

// The highest PCR handle ESAPI names (ESYS_TR_PCR31).
constexpr unsigned kMaxPcr = 31;

void check_pcr(unsigned pcr) {
    if (pcr > kMaxPcr)
        throw Error("PCR " + std::to_string(pcr) + " does not exist (PCRs are 0 to 31)");
}

bool has_pcr(const TPMS_PCR_SELECTION& s, unsigned pcr) {
    return pcr / 8 < s.sizeofSelect && pcr / 8 < sizeof(s.pcrSelect) &&
           ((s.pcrSelect[pcr / 8] >> (pcr % 8)) & 1U) != 0;
}

TPMS_PCR_SELECTION select_one(TPM2_ALG_ID alg, unsigned pcr) {
    TPMS_PCR_SELECTION s{};
    s.hash = alg;
    // TPMs take at least 3 bytes of selection (PCR_SELECT_MIN), even for a low PCR.
    s.sizeofSelect = static_cast<UINT8>(std::max(3U, pcr / 8 + 1));
    s.pcrSelect[pcr / 8] = static_cast<BYTE>(1U << (pcr % 8));
    return s;
}

std::string rc_text(TSS2_RC rc) {
    std::array<char, 16> code{};
    std::snprintf(code.data(), code.size(), "0x%x", rc);
    try {
        const char* text = Tss2_RC_Decode(rc);
        if (text) return std::string(text) + " (" + code.data() + ")";
    } catch (const Error&) {
        // Without libtss2-rc the code alone still says what happened.
    }
    return code.data();
}

struct EsysFree {
    void operator()(void* p) const { Esys_Free(p); }
};
// An output of an Esys_* call, which ESAPI allocates and Esys_Free releases.
template <typename T>
using EsysOut = std::unique_ptr<T, EsysFree>;

struct TctiFinalize {
    void operator()(TSS2_TCTI_CONTEXT* p) const { Tss2_TctiLdr_Finalize(&p); }
};
struct EsysFinalize {
    void operator()(ESYS_CONTEXT* p) const { Esys_Finalize(&p); }
};

// A transient object in the TPM, flushed when it goes out of scope: TPMs hold only a few.
class Transient {
public:
    Transient(ESYS_CONTEXT* ctx, ESYS_TR handle) : ctx_(ctx), handle_(handle) {}
    Transient(Transient&& other) noexcept
        : ctx_(other.ctx_), handle_(std::exchange(other.handle_, ESYS_TR_NONE)) {}
    Transient(const Transient&) = delete;
    Transient& operator=(const Transient&) = delete;
    Transient& operator=(Transient&&) = delete;
    ~Transient() {
        if (handle_ == ESYS_TR_NONE) return;
        try {
            Esys_FlushContext(ctx_, handle_);
        } catch (const Error&) {
            // The library that created the handle is loaded; flushing cannot fail to resolve.
        }
    }
    ESYS_TR get() const { return handle_; }

private:
    ESYS_CONTEXT* ctx_;
    ESYS_TR handle_;
};

template <typename T>
using Marshal = TSS2_RC (*)(const T*, uint8_t[], size_t, size_t*);

template <typename T>
std::string marshal(const T& value, Marshal<T> fn, const char* what) {
    std::string out(sizeof(T) + 16, '\0');
    size_t offset = 0;
    TSS2_RC rc = fn(&value, reinterpret_cast<uint8_t*>(out.data()), out.size(), &offset);
    if (rc != TSS2_RC_SUCCESS)
        throw Error(std::string("cannot marshal ") + what + ": " + rc_text(rc));
    out.resize(offset);
    return out;
}

template <typename T>
using Unmarshal = TSS2_RC (*)(const uint8_t[], size_t, size_t*, T*);

template <typename T>
T unmarshal(const std::string& bytes, Unmarshal<T> fn, const std::filesystem::path& file) {
    T value{};
    size_t offset = 0;
    TSS2_RC rc = fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &offset, &value);
    if (rc != TSS2_RC_SUCCESS || offset != bytes.size())
        throw Error(file.string() + " is not a TPM key blob (" + rc_text(rc) + ")");
    return value;
}

// An ECC P-256 key with SHA-256 names, fixed to this TPM, made inside it, used with its (empty)
// auth value: what both keys rkt makes share.
TPM2B_PUBLIC p256_template(TPMA_OBJECT attributes) {
    TPM2B_PUBLIC t{};
    TPMT_PUBLIC& p = t.publicArea;
    p.type = TPM2_ALG_ECC;
    p.nameAlg = TPM2_ALG_SHA256;
    p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                         TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                         TPMA_OBJECT_RESTRICTED | attributes;
    p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    return t;
}

// The TCG's default storage root key (TCG TPM v2.0 Provisioning Guidance): restricted decrypt,
// AES-128-CFB, no dictionary-attack lockout. The TPM derives it from its owner seed, so the
// same template gives the same key, and public area, every time on one TPM.
TPM2B_PUBLIC srk_template() {
    TPM2B_PUBLIC t = p256_template(TPMA_OBJECT_NODA | TPMA_OBJECT_DECRYPT);
    TPMS_ECC_PARMS& ecc = t.publicArea.parameters.eccDetail;
    ecc.symmetric.algorithm = TPM2_ALG_AES;
    ecc.symmetric.keyBits.aes = 128;
    ecc.symmetric.mode.aes = TPM2_ALG_CFB;
    ecc.scheme.scheme = TPM2_ALG_NULL;
    return t;
}

// The attestation key: a restricted signing key, so it signs only what the TPM itself produced
// (quotes), never a forged TPMS_ATTEST.
TPM2B_PUBLIC ak_template() {
    TPM2B_PUBLIC t = p256_template(TPMA_OBJECT_SIGN_ENCRYPT);
    TPMS_ECC_PARMS& ecc = t.publicArea.parameters.eccDetail;
    ecc.symmetric.algorithm = TPM2_ALG_NULL;
    ecc.scheme.scheme = TPM2_ALG_ECDSA;
    ecc.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    return t;
}

// SubjectPublicKeyInfo of an uncompressed P-256 point, as PEM: the DER is a fixed header
// (id-ecPublicKey, prime256v1, a 66-byte bit string) followed by 04 || X || Y.
std::string p256_pem(const TPMT_PUBLIC& pub, const std::filesystem::path& file) {
    const TPMS_ECC_POINT& point = pub.unique.ecc;
    if (pub.type != TPM2_ALG_ECC || pub.parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 ||
        point.x.size != 32 || point.y.size != 32)
        throw Error(file.string() + " is not an ECC P-256 key");
    static constexpr std::array<uint8_t, 27> kHeader = {
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
        0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};
    std::string der(kHeader.begin(), kHeader.end());
    der.append(reinterpret_cast<const char*>(point.x.buffer), point.x.size);
    der.append(reinterpret_cast<const char*>(point.y.buffer), point.y.size);
    const std::string b64 = trust::base64_encode(der);
    std::string pem = "-----BEGIN PUBLIC KEY-----\n";
    for (size_t i = 0; i < b64.size(); i += 64) pem += b64.substr(i, 64) + "\n";
    pem += "-----END PUBLIC KEY-----\n";
    return pem;
}

// tpm2_quote's default PCR output ("serialized", lib/pcr.c in tpm2-tools): a TPML_PCR_SELECTION,
// a UINT32 count of TPML_DIGEST lists, then those lists, each struct whole as it lies in memory
// (padding and unused entries zero).
std::vector<uint8_t> serialized_pcrs(const TPMS_PCR_SELECTION& sel, const TPM2B_DIGEST& value) {
    TPML_PCR_SELECTION selection;
    std::memset(&selection, 0, sizeof(selection));
    selection.count = 1;
    TPMS_PCR_SELECTION& s = selection.pcrSelections[0];
    s.hash = sel.hash;
    s.sizeofSelect = sel.sizeofSelect;
    std::memcpy(s.pcrSelect, sel.pcrSelect, sizeof(s.pcrSelect));

    TPML_DIGEST digests;
    std::memset(&digests, 0, sizeof(digests));
    digests.count = 1;
    digests.digests[0].size = value.size;
    std::memcpy(digests.digests[0].buffer, value.buffer, value.size);

    const uint32_t lists = 1;
    std::vector<uint8_t> out(sizeof(selection) + sizeof(lists) + sizeof(digests));
    std::memcpy(out.data(), &selection, sizeof(selection));
    std::memcpy(out.data() + sizeof(selection), &lists, sizeof(lists));
    std::memcpy(out.data() + sizeof(selection) + sizeof(lists), &digests, sizeof(digests));
    return out;
}

// key_dir with mode 0700 (made if missing): it holds the attestation key's TPM blobs.
void make_key_dir(const std::filesystem::path& key_dir) {
    if (key_dir.has_parent_path()) fs::make_dirs(key_dir.parent_path());
    if (::mkdir(key_dir.c_str(), 0700) < 0 && errno != EEXIST)
        throw system_error("cannot create " + key_dir.string());
    struct stat st {};
    if (::stat(key_dir.c_str(), &st) < 0) throw system_error("cannot stat " + key_dir.string());
    if (!S_ISDIR(st.st_mode)) throw Error(key_dir.string() + " is not a directory");
}

// Key blobs are a few hundred bytes; anything much bigger is not one.
constexpr size_t kMaxBlob = 4096;

}  // namespace

struct TpmDevice::Impl {
    std::string tcti;
    std::unique_ptr<TSS2_TCTI_CONTEXT, TctiFinalize> tcti_ctx;
    std::unique_ptr<ESYS_CONTEXT, EsysFinalize> esys;  // after tcti_ctx: finalized before it

    [[noreturn]] void fail(const char* what, TSS2_RC rc) const {
        throw Error("the TPM at " + tcti + ": " + what + " failed: " + rc_text(rc));
    }
    void check(TSS2_RC rc, const char* what) const {
        if (rc != TSS2_RC_SUCCESS) fail(what, rc);
    }

    TPML_PCR_SELECTION allocated() const {
        TPMI_YES_NO more = TPM2_NO;
        TPMS_CAPABILITY_DATA* raw = nullptr;
        TSS2_RC rc = Esys_GetCapability(esys.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                        TPM2_CAP_PCRS, 0, 1, &more, &raw);
        EsysOut<TPMS_CAPABILITY_DATA> data(raw);
        check(rc, "TPM2_GetCapability(PCRS)");
        TPML_PCR_SELECTION sel = data->data.assignedPCR;
        sel.count = std::min<UINT32>(sel.count, TPM2_NUM_PCR_BANKS);
        return sel;
    }

    // The digest algorithms of the banks that hold `pcr`, in the TPM's order.
    std::vector<const HashAlg*> bank_algs(unsigned pcr) const {
        check_pcr(pcr);
        const TPML_PCR_SELECTION sel = allocated();
        std::vector<const HashAlg*> algs;
        for (UINT32 i = 0; i < sel.count; ++i) {
            const HashAlg* h = hash_by_id(sel.pcrSelections[i].hash);
            if (h && has_pcr(sel.pcrSelections[i], pcr)) algs.push_back(h);
        }
        return algs;
    }

    // One PCR in the given banks. TPM2_PCR_Read answers at most 8 digests and may leave out
    // banks: it says which it read, and the rest is asked again.
    std::vector<std::vector<uint8_t>> read(unsigned pcr,
                                           const std::vector<const HashAlg*>& algs) const {
        std::vector<std::optional<std::vector<uint8_t>>> values(algs.size());
        for (;;) {
            TPML_PCR_SELECTION want{};
            for (size_t i = 0; i < algs.size(); ++i)
                if (!values[i]) want.pcrSelections[want.count++] = select_one(algs[i]->id, pcr);
            if (want.count == 0) break;

            UINT32 counter = 0;
            TPML_PCR_SELECTION* out_raw = nullptr;
            TPML_DIGEST* digests_raw = nullptr;
            TSS2_RC rc = Esys_PCR_Read(esys.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &want,
                                       &counter, &out_raw, &digests_raw);
            EsysOut<TPML_PCR_SELECTION> out(out_raw);
            EsysOut<TPML_DIGEST> digests(digests_raw);
            check(rc, "TPM2_PCR_Read");

            // The digests come in the order of the selection the TPM answers with.
            bool progress = false;
            UINT32 next = 0;
            for (UINT32 b = 0; b < std::min<UINT32>(out->count, TPM2_NUM_PCR_BANKS); ++b) {
                const TPMS_PCR_SELECTION& s = out->pcrSelections[b];
                for (unsigned bit = 0; bit < s.sizeofSelect * 8U; ++bit) {
                    if (!has_pcr(s, bit)) continue;
                    if (next >= std::min<UINT32>(digests->count, 8))
                        throw Error("the TPM at " + tcti +
                                    " answered TPM2_PCR_Read with fewer digests than PCRs");
                    const TPM2B_DIGEST& d = digests->digests[next++];
                    for (size_t i = 0; i < algs.size(); ++i) {
                        if (bit != pcr || algs[i]->id != s.hash || values[i]) continue;
                        if (d.size != algs[i]->size)
                            throw Error("the TPM at " + tcti + " read a " + std::to_string(d.size) +
                                        "-byte " + algs[i]->name + " value of PCR " +
                                        std::to_string(pcr));
                        values[i].emplace(d.buffer, d.buffer + d.size);
                        progress = true;
                    }
                }
            }
            if (!progress)
                throw Error("the TPM at " + tcti + " does not read PCR " + std::to_string(pcr) +
                            " in every bank it says holds it");
        }
        std::vector<std::vector<uint8_t>> result;
        result.reserve(values.size());
        for (auto& v : values) result.push_back(std::move(*v));
        return result;
    }

    struct Primary {
        Transient handle;
        TPM2B_PUBLIC pub;
    };

    Primary storage_primary() const {
        const TPM2B_SENSITIVE_CREATE sensitive{};
        const TPM2B_PUBLIC tmpl = srk_template();
        const TPM2B_DATA outside{};
        const TPML_PCR_SELECTION creation_pcr{};
        ESYS_TR handle = ESYS_TR_NONE;
        TPM2B_PUBLIC* pub_raw = nullptr;
        TSS2_RC rc = Esys_CreatePrimary(
            esys.get(), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive,
            &tmpl, &outside, &creation_pcr, &handle, &pub_raw, nullptr, nullptr, nullptr);
        EsysOut<TPM2B_PUBLIC> pub(pub_raw);
        check(rc, "TPM2_CreatePrimary(storage key)");
        Primary primary{Transient(esys.get(), handle), *pub};
        return primary;
    }

    struct Key {
        Transient handle;
        std::string pem;
    };

    // The attestation key of key_dir, created there first if it has none.
    Key attestation_key(const Primary& primary, const std::filesystem::path& key_dir) const {
        make_key_dir(key_dir);
        // Two rkt that create the key at once would otherwise leave one's ak.pub with the
        // other's ak.priv.
        const FileLock lock = FileLock::acquire(key_dir, FileLock::Mode::kExclusive);
        const auto pub_path = key_dir / "ak.pub";
        const auto priv_path = key_dir / "ak.priv";
        const auto pem_path = key_dir / "ak.pem";

        TPM2B_PUBLIC pub{};
        TPM2B_PRIVATE priv{};
        auto pub_file = fs::read_file_if_exists(pub_path);
        auto priv_file = fs::read_file_if_exists(priv_path);
        if (pub_file && priv_file) {
            if (pub_file->size() > kMaxBlob || priv_file->size() > kMaxBlob)
                throw Error(key_dir.string() + " holds key blobs too big to be TPM keys");
            pub = unmarshal<TPM2B_PUBLIC>(*pub_file, Tss2_MU_TPM2B_PUBLIC_Unmarshal, pub_path);
            priv = unmarshal<TPM2B_PRIVATE>(*priv_file, Tss2_MU_TPM2B_PRIVATE_Unmarshal, priv_path);
        } else {
            const TPM2B_SENSITIVE_CREATE sensitive{};
            const TPM2B_PUBLIC tmpl = ak_template();
            const TPM2B_DATA outside{};
            const TPML_PCR_SELECTION creation_pcr{};
            TPM2B_PRIVATE* priv_raw = nullptr;
            TPM2B_PUBLIC* pub_raw = nullptr;
            TSS2_RC rc = Esys_Create(esys.get(), primary.handle.get(), ESYS_TR_PASSWORD,
                                     ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &tmpl, &outside,
                                     &creation_pcr, &priv_raw, &pub_raw, nullptr, nullptr, nullptr);
            EsysOut<TPM2B_PRIVATE> priv_out(priv_raw);
            EsysOut<TPM2B_PUBLIC> pub_out(pub_raw);
            check(rc, "TPM2_Create(attestation key)");
            pub = *pub_out;
            priv = *priv_out;
            fs::write_file_atomic(
                priv_path, marshal(priv, Tss2_MU_TPM2B_PRIVATE_Marshal, "the key's private part"),
                0600);
            fs::write_file_atomic(
                pub_path, marshal(pub, Tss2_MU_TPM2B_PUBLIC_Marshal, "the key's public part"),
                0600);
        }

        ESYS_TR handle = ESYS_TR_NONE;
        TSS2_RC rc = Esys_Load(esys.get(), primary.handle.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE, &priv, &pub, &handle);
        if (rc != TSS2_RC_SUCCESS)
            throw Error("the TPM at " + tcti + " cannot load the attestation key in " +
                        key_dir.string() +
                        " (made by another TPM, or before a TPM2_Clear?): " + rc_text(rc));
        Key key{Transient(esys.get(), handle), p256_pem(pub.publicArea, pub_path)};
        if (fs::read_file_if_exists(pem_path) != key.pem)
            fs::write_file_atomic(pem_path, key.pem, 0600);
        return key;
    }
};

TpmDevice::TpmDevice(const std::string& tcti) : impl_(std::make_unique<Impl>()) {
    impl_->tcti = tcti;
    TSS2_TCTI_CONTEXT* tcti_raw = nullptr;
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &tcti_raw);
    impl_->tcti_ctx.reset(tcti_raw);
    if (rc != TSS2_RC_SUCCESS)
        throw Error("cannot open the TPM at " + tcti + " (TCTI " + tcti + "): " + rc_text(rc));
    ESYS_CONTEXT* esys_raw = nullptr;
    rc = Esys_Initialize(&esys_raw, tcti_raw, nullptr);
    impl_->esys.reset(esys_raw);
    impl_->check(rc, "Esys_Initialize");

    // A first command shows whether the TPM has been started (a real one is, by the firmware;
    // swtpm only with startup-clear).
    TPMS_TIME_INFO* time_raw = nullptr;
    rc = Esys_ReadClock(esys_raw, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &time_raw);
    EsysOut<TPMS_TIME_INFO> time(time_raw);
    if (rc == TPM2_RC_INITIALIZE)
        impl_->check(Esys_Startup(esys_raw, TPM2_SU_CLEAR), "TPM2_Startup(CLEAR)");
    else
        impl_->check(rc, "TPM2_ReadClock");
}

TpmDevice::~TpmDevice() = default;

std::vector<std::string> TpmDevice::banks(unsigned pcr) {
    std::vector<std::string> names;
    for (const HashAlg* h : impl_->bank_algs(pcr)) names.emplace_back(h->name);
    return names;
}

std::vector<BankValue> TpmDevice::read(unsigned pcr) {
    const auto algs = impl_->bank_algs(pcr);
    if (algs.empty())
        throw Error("the TPM at " + impl_->tcti + " has PCR " + std::to_string(pcr) +
                    " in no SHA bank");
    auto values = impl_->read(pcr, algs);
    std::vector<BankValue> result;
    result.reserve(algs.size());
    for (size_t i = 0; i < algs.size(); ++i)
        result.push_back(BankValue{algs[i]->name, std::move(values[i])});
    return result;
}

void TpmDevice::extend(unsigned pcr, const std::vector<BankValue>& digests) {
    check_pcr(pcr);
    if (digests.empty() || digests.size() > TPM2_NUM_PCR_BANKS)
        throw Error("extending PCR " + std::to_string(pcr) + " takes 1 to " +
                    std::to_string(TPM2_NUM_PCR_BANKS) + " digests, not " +
                    std::to_string(digests.size()));
    TPML_DIGEST_VALUES values{};
    for (const auto& d : digests) {
        const HashAlg& h = hash_by_name(d.alg);
        if (d.bytes.size() != h.size)
            throw Error("a " + d.alg + " digest is " + std::to_string(h.size) + " bytes, not " +
                        std::to_string(d.bytes.size()));
        TPMT_HA& ha = values.digests[values.count++];
        ha.hashAlg = h.id;
        std::memcpy(&ha.digest, d.bytes.data(), h.size);
    }
    impl_->check(Esys_PCR_Extend(impl_->esys.get(), ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD,
                                 ESYS_TR_NONE, ESYS_TR_NONE, &values),
                 "TPM2_PCR_Extend");
}

std::string TpmDevice::identity() {
    const auto primary = impl_->storage_primary();
    return sha256_digest(
        marshal(primary.pub.publicArea, Tss2_MU_TPMT_PUBLIC_Marshal, "the storage key"));
}

BootCounters TpmDevice::boot_counters() {
    TPMS_TIME_INFO* raw = nullptr;
    TSS2_RC rc = Esys_ReadClock(impl_->esys.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &raw);
    EsysOut<TPMS_TIME_INFO> time(raw);
    impl_->check(rc, "TPM2_ReadClock");
    return BootCounters{time->clockInfo.resetCount, time->clockInfo.restartCount};
}

std::string TpmDevice::attestation_key(const std::filesystem::path& key_dir) {
    const auto primary = impl_->storage_primary();
    return impl_->attestation_key(primary, key_dir).pem;
}

QuoteFiles TpmDevice::quote(const std::filesystem::path& key_dir, unsigned pcr,
                            const std::string& alg, const std::vector<uint8_t>& nonce) {
    TPM2B_DATA qualifying{};
    if (nonce.size() > sizeof(qualifying.buffer))
        throw Error("a quote's nonce is at most " + std::to_string(sizeof(qualifying.buffer)) +
                    " bytes, not " + std::to_string(nonce.size()));
    qualifying.size = static_cast<UINT16>(nonce.size());
    std::copy(nonce.begin(), nonce.end(), qualifying.buffer);

    const HashAlg& bank = hash_by_name(alg);
    const auto algs = impl_->bank_algs(pcr);
    if (std::find(algs.begin(), algs.end(), &bank) == algs.end())
        throw Error("the TPM at " + impl_->tcti + " has no " + alg + " bank for PCR " +
                    std::to_string(pcr));

    const auto primary = impl_->storage_primary();
    const auto key = impl_->attestation_key(primary, key_dir);
    TPMT_SIG_SCHEME scheme{};
    scheme.scheme = TPM2_ALG_ECDSA;
    scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    TPML_PCR_SELECTION selection{};
    selection.count = 1;
    selection.pcrSelections[0] = select_one(bank.id, pcr);

    // The PCR file must hold the value the TPM quoted: one read before the quote and one after
    // agree unless someone extended it meanwhile, and then the quote is taken again.
    constexpr int kAttempts = 5;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
        const auto before = impl_->read(pcr, {&bank}).at(0);
        TPM2B_ATTEST* quoted_raw = nullptr;
        TPMT_SIGNATURE* sig_raw = nullptr;
        TSS2_RC rc =
            Esys_Quote(impl_->esys.get(), key.handle.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE,
                       ESYS_TR_NONE, &qualifying, &scheme, &selection, &quoted_raw, &sig_raw);
        EsysOut<TPM2B_ATTEST> quoted(quoted_raw);
        EsysOut<TPMT_SIGNATURE> sig(sig_raw);
        impl_->check(rc, "TPM2_Quote");
        const auto after = impl_->read(pcr, {&bank}).at(0);
        if (before != after) continue;

        TPM2B_DIGEST value{};
        value.size = static_cast<UINT16>(after.size());
        std::copy(after.begin(), after.end(), value.buffer);
        QuoteFiles files;
        files.message.assign(quoted->attestationData, quoted->attestationData + quoted->size);
        const std::string sig_bytes = marshal(*sig, Tss2_MU_TPMT_SIGNATURE_Marshal, "a quote");
        files.signature.assign(sig_bytes.begin(), sig_bytes.end());
        files.pcrs = serialized_pcrs(selection.pcrSelections[0], value);
        return files;
    }
    throw Error("PCR " + std::to_string(pcr) + " of the TPM at " + impl_->tcti +
                " kept changing while it was quoted");
}

}  // namespace rkt::tpm
