// One TPM 2.0, reached through tpm2-tss ESAPI. The tss2 libraries are loaded on first use (as
// libcrypto is, stage0/trust/libcrypto_loader.cpp), so a rkt that measures nothing maps none of
// them. Every call may block on the TPM: callers that need a deadline run it in a child process
// (stage0/tpm/tpm_child.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace rkt::tpm {

// One PCR bank's value or digest: alg is "sha1", "sha256", "sha384" or "sha512".
struct BankValue {
    std::string alg;
    std::vector<uint8_t> bytes;
};

// A quote in the files tpm2-tools' tpm2_quote writes and tpm2_checkquote reads:
// message (-m: the marshaled TPMS_ATTEST), signature (-s: the marshaled TPMT_SIGNATURE) and
// pcrs (-o: the quoted PCR values in tpm2_quote's default "serialized" layout).
struct QuoteFiles {
    std::vector<uint8_t> message;
    std::vector<uint8_t> signature;
    std::vector<uint8_t> pcrs;
};

// Where the TPM's clock says we are: resets and restarts both clear the PCRs rkt uses.
struct BootCounters {
    uint32_t reset_count = 0;
    uint32_t restart_count = 0;
};

class TpmDevice {
public:
    // tcti is a tss2 TCTI configuration: "device:/dev/tpmrm0", "tabrmd", "swtpm:host=H,port=P",
    // "mssim:host=H,port=P". A TPM that has not been started (swtpm without startup-clear) is
    // started (TPM2_Startup(CLEAR)). Throws Error naming the TCTI when it cannot be reached.
    explicit TpmDevice(const std::string& tcti);
    ~TpmDevice();
    TpmDevice(const TpmDevice&) = delete;
    TpmDevice& operator=(const TpmDevice&) = delete;

    // The banks allocated for this PCR, in the TPM's order (e.g. {"sha1","sha256"}).
    std::vector<std::string> banks(unsigned pcr);
    // The PCR's value in every allocated bank.
    std::vector<BankValue> read(unsigned pcr);
    // TPM2_PCR_Extend with one digest per bank (each digest's size must match its alg).
    void extend(unsigned pcr, const std::vector<BankValue>& digests);

    // "sha256:<hex>" naming this TPM: the digest of the public area of its storage primary key
    // (ECC P-256, the TCG template), which only this TPM (and only until TPM2_Clear) has.
    std::string identity();
    BootCounters boot_counters();

    // The attestation key lives in key_dir: ak.pub and ak.priv (the TPM2B_PUBLIC and
    // TPM2B_PRIVATE blobs, wrapped by the storage primary, tss-marshaled) and ak.pem (its public
    // part, PEM, for verifiers). Created on first use (restricted ECC P-256 signing key, ECDSA
    // with SHA-256), loaded afterwards. Returns the PEM.
    std::string attestation_key(const std::filesystem::path& key_dir);
    // TPM2_Quote over one PCR of one bank, qualified by nonce, signed by the attestation key.
    QuoteFiles quote(const std::filesystem::path& key_dir, unsigned pcr, const std::string& alg,
                     const std::vector<uint8_t>& nonce);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace rkt::tpm
