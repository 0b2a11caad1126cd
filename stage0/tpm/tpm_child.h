// PLACEHOLDER until wt-tpmdev lands: the interface only.
#pragma once
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "stage0/tpm/tpm_device.h"

namespace rkt::tpm {
class TpmChild {
public:
    TpmChild(const std::string& tcti, std::chrono::milliseconds deadline);
    ~TpmChild();
    std::vector<std::string> banks(unsigned pcr);
    std::vector<BankValue> read(unsigned pcr);
    void extend(unsigned pcr, const std::vector<BankValue>& digests);
    std::string identity();
    BootCounters boot_counters();
    std::string attestation_key(const std::filesystem::path& key_dir);
    QuoteFiles quote(const std::filesystem::path& key_dir, unsigned pcr, const std::string& alg,
                     const std::vector<uint8_t>& nonce);
};
}  // namespace rkt::tpm
