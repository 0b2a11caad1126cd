// The hash of each PCR bank rkt extends, and what an extend does to a PCR: the TPM computes
// new = H(old || digest), so a verifier can replay an event log without a TPM.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stage0/tpm/tpm_device.h"

namespace rkt::tpm {

// The digest size of a bank's hash ("sha1", "sha256", "sha384", "sha512"), or 0 for another.
size_t bank_digest_size(std::string_view alg);
bool is_supported_bank(std::string_view alg);

// H(data) in the bank's hash. Throws Error for an unsupported bank.
std::vector<uint8_t> bank_digest(std::string_view alg, std::string_view data);
// H(old || digest): the PCR value after extending `old` with `digest`.
std::vector<uint8_t> extended(std::string_view alg, const std::vector<uint8_t>& old,
                              const std::vector<uint8_t>& digest);
// The value of a PCR that has not been extended since reset (PCRs 0-15 and 23: all zero).
std::vector<uint8_t> reset_value(std::string_view alg);

// The banks of `values`, in their order.
std::vector<std::string> bank_algs(const std::vector<BankValue>& values);
// The same banks with the same values, in any order.
bool same_values(const std::vector<BankValue>& a, const std::vector<BankValue>& b);
// Extends each bank of `pcr` with that bank's digest among `digests`, as the TPM's PCR_Extend
// does; a bank without a digest there is left as it is.
void extend_banks(std::vector<BankValue>& pcr, const std::vector<BankValue>& digests);

// The value for `alg` among `values`, or nullopt.
std::optional<std::vector<uint8_t>> find_bank(const std::vector<BankValue>& values,
                                              std::string_view alg);

}  // namespace rkt::tpm
