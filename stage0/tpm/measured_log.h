// Measuring a launch: each measurement is extended into the PCR and appended to the event log
// under one lock (<data-dir>/tpm/lock), so that concurrent pods extend and log in one order.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stage0/tpm/tpm_settings.h"

namespace rkt::tpm {

// The files of <data-dir>/tpm/.
struct TpmPaths {
    std::filesystem::path dir;
    std::filesystem::path log() const { return dir / "log.cel"; }
    std::filesystem::path lock() const { return dir / "lock"; }
    std::filesystem::path key_dir() const { return dir / "ak"; }
    std::filesystem::path file_digests() const { return dir / "file-digests.json"; }
    // Holds the boot ID of the last boot on which rkt said that pods are not measured.
    std::filesystem::path unmeasured_note() const { return dir / "unmeasured-noted"; }
};

enum class MeasureOutcome { kMeasured, kOff, kNoTpm };

// Measures pod `uuid`: `measure` is called (under the log's lock, once a TPM was reached) for the
// records' contents, and each gets "pod": uuid. With mode auto and no
// reachable TPM, says so once per boot and returns kNoTpm; with mode required that is an Error,
// as is every failure once the first extend was made (a TPM that fails mid-way, a log that is
// corrupt or from another TPM): the caller must not start the pod.
MeasureOutcome measure_launch(const TpmSettings& settings, const TpmPaths& paths,
                              const std::string& uuid,
                              const std::function<std::vector<nlohmann::json>()>& measure);

}  // namespace rkt::tpm
