// The measured-launch event log, <data-dir>/tpm/log.cel (docs/tpm.md, "The event log"): the
// TCG Canonical Event Log in its JSON form, one record per RFC 7464 JSON text (RS, JSON, LF), so
// a record is appended with one write and a torn last record is seen as such.
//
// Record 0 names what the log belongs to: the TPM, its boot, the PCR and the PCR's value when
// the log began. Every later record is one measurement: the digests extended (one per bank, each
// the bank's hash of the record's content serialized as canonical JSON) and the content itself,
// which carries the pod's UUID. The log is hostile input when read back: sizes, counts, nesting,
// numbers and hex are all checked.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stage0/tpm/tpm_device.h"

namespace rkt::tpm {

inline constexpr int kLogVersion = 1;
inline constexpr const char* kHeaderContentType = "rkt_log";
inline constexpr const char* kEventContentType = "rkt";

struct LogHeader {
    unsigned pcr = 0;
    std::string tpm;  // TpmDevice::identity()
    BootCounters boot;
    std::vector<BankValue> pcr_start;  // the PCR when record 0 was written
};

struct LogEvent {
    uint64_t recnum = 0;
    unsigned pcr = 0;
    std::vector<BankValue> digests;                     // what was extended, one per bank
    nlohmann::json content = nlohmann::json::object();  // {"pod": UUID, "kind": ..., ...}
    // The PCR as the TPM reported it right after this extend: lets verify tell where a chain
    // broke, not only that it did. Not part of the measured content.
    std::vector<BankValue> pcr_after;
};

struct EventLog {
    LogHeader header;
    std::vector<LogEvent> events;
};

// The content's canonical serialization, which each bank hashes into the record's digest.
std::string canonical_content(const nlohmann::json& content);
// The digests of `content` for `banks`.
std::vector<BankValue> content_digests(const nlohmann::json& content,
                                       const std::vector<std::string>& banks);

// One record as it is written to the file: RS, the JSON text, LF.
std::string header_record(const LogHeader& h);
std::string event_record(const LogEvent& e);

// Parses a whole log; throws Error naming the record (and its byte offset) that is truncated,
// malformed, out of sequence or oversized.
EventLog parse_log(std::string_view text);
EventLog read_log(const std::filesystem::path& path);

// Appends one record and makes it durable before returning (the caller holds the log's lock).
void append_record(const std::filesystem::path& path, const std::string& record);
// Starts a new log holding only the header record (atomically replacing any old one).
void create_log(const std::filesystem::path& path, const LogHeader& h);

// JSON for `rkt tpm log --format=json` and for quote.json.
nlohmann::json banks_to_json(const std::vector<BankValue>& values);

}  // namespace rkt::tpm
