#include "stage0/tpm/log_verify.h"

#include "common/strings.h"
#include "stage0/tpm/bank_hash.h"

namespace rkt::tpm {

namespace {

// The banks both sides have: offline, a verifier may know only one bank's value.
std::vector<BankValue> common_banks(const std::vector<BankValue>& replayed,
                                    const std::vector<BankValue>& given) {
    std::vector<BankValue> out;
    for (const auto& v : replayed)
        if (find_bank(given, v.alg)) out.push_back(v);
    return out;
}

std::string text(const nlohmann::json& content, const char* key) {
    auto it = content.find(key);
    return it != content.end() && it->is_string() ? strings::printable(it->get<std::string>(), 80)
                                                  : "";
}

}  // namespace

std::string describe_record(const LogEvent& e) {
    std::string out = "record " + std::to_string(e.recnum) + " (pod " + text(e.content, "pod");
    std::string kind = text(e.content, "kind");
    if (!kind.empty()) out += ", " + kind;
    if (std::string app = text(e.content, "app"); !app.empty()) out += " of app " + app;
    if (std::string path = text(e.content, "path"); !path.empty()) out += " " + path;
    return out + ")";
}

VerifyResult verify_log(const EventLog& log, const VerifyInput& input) {
    VerifyResult r;
    const LogHeader& h = log.header;
    if (input.tpm && *input.tpm != h.tpm) {
        r.message =
            "the log belongs to another TPM (" + h.tpm + "; this TPM is " + *input.tpm + ")";
        return r;
    }
    if (input.boot && (input.boot->reset_count != h.boot.reset_count ||
                       input.boot->restart_count != h.boot.restart_count)) {
        r.message = "the log is of an earlier boot of the TPM (reset count " +
                    std::to_string(h.boot.reset_count) + ", now " +
                    std::to_string(input.boot->reset_count) +
                    "): its PCR values are gone, and nothing can be checked against them";
        return r;
    }
    std::vector<BankValue> pcr = h.pcr_start;
    for (const auto& e : log.events) {
        for (const auto& d : e.digests) {
            if (bank_digest(d.alg, canonical_content(e.content)) != d.bytes) {
                r.broken = e.recnum;
                r.message = describe_record(e) + " was changed: its " + d.alg +
                            " digest is not that of its content";
                return r;
            }
        }
        extend_banks(pcr, e.digests);
        if (!e.pcr_after.empty() && !same_values(e.pcr_after, pcr)) {
            r.broken = e.recnum;
            r.message = describe_record(e) +
                        " does not follow the records before it: a record before it is "
                        "missing or was moved";
            return r;
        }
    }
    r.replayed = pcr;
    std::vector<BankValue> compared = common_banks(pcr, input.pcr);
    if (compared.empty()) {
        r.message = "no PCR value of the log's banks was given to compare with";
        return r;
    }
    for (const auto& v : compared) {
        if (*find_bank(input.pcr, v.alg) != v.bytes) {
            uint64_t last = log.events.empty() ? 0 : log.events.back().recnum;
            r.broken = last + 1;
            r.message = "PCR " + std::to_string(h.pcr) + " (" + v.alg +
                        ") is not the log's replay: " + "the PCR was extended after record " +
                        std::to_string(last) +
                        " by something the log does not hold, or records after it were removed";
            return r;
        }
    }
    r.ok = true;
    std::vector<std::string> algs;
    algs.reserve(compared.size());
    for (const auto& v : compared) algs.push_back(v.alg);
    r.message = "the log matches PCR " + std::to_string(h.pcr) + " (" + strings::join(algs, ", ") +
                ") after " + std::to_string(log.events.size()) + " records";
    return r;
}

}  // namespace rkt::tpm
