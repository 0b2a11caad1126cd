// Replaying an event log against the PCR it was extended into (`rkt tpm verify`, and what a
// remote verifier does with a quote): each record's digests must be its content's, the chain of
// extends must reach the PCR's value, and the log must be of this TPM and this boot.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "stage0/tpm/event_log.h"

namespace rkt::tpm {

struct VerifyInput {
    std::vector<BankValue> pcr;        // the PCR's value now (or as quoted)
    std::optional<std::string> tpm;    // this TPM's identity; unknown offline
    std::optional<BootCounters> boot;  // this TPM's boot; unknown offline
};

struct VerifyResult {
    bool ok = false;
    std::string message;              // one line: what matched, or what broke first
    std::optional<uint64_t> broken;   // the first record that breaks, when one does
    std::vector<BankValue> replayed;  // the log's end, replayed
};

VerifyResult verify_log(const EventLog& log, const VerifyInput& input);

// "record 5 (pod 4f3c…, app-disk of app busybox)": how messages name a record.
std::string describe_record(const LogEvent& e);

}  // namespace rkt::tpm
