// Whether and where rkt measures a launch (docs/tpm.md, "Settings"): --tpm and --tpm-tcti, over
// the tpm.d files of the local configuration, over those of the system configuration, over the
// built-in defaults (auto; the kernel's resource manager /dev/tpmrm0; PCR 23; 10 s per TPM call).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace rkt::tpm {

enum class TpmMode {
    kOff,       // never measure
    kAuto,      // measure when a TPM is reachable; say once per boot that none is
    kRequired,  // refuse to run a pod that cannot be measured
};

struct TpmSettings {
    TpmMode mode = TpmMode::kAuto;
    std::string tcti;  // empty: the default device, when there is one
    unsigned pcr = 23;
    std::chrono::milliseconds timeout{10000};
};

TpmMode parse_tpm_mode(const std::string& text);
std::string tpm_mode_name(TpmMode mode);

// Reads <dir>/tpm.d/*.json of the system then the local configuration directory (later files
// win, field by field), then applies the flags that were given (empty: not given).
TpmSettings load_tpm_settings(const std::filesystem::path& system_config,
                              const std::filesystem::path& local_config,
                              const std::string& mode_flag, const std::string& tcti_flag);

// The TCTI to use: the configured one, or the kernel's TPM device when it exists; empty when
// there is neither.
std::string effective_tcti(const TpmSettings& s);

}  // namespace rkt::tpm
