#include "stage0/tpm/event_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <set>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"
#include "stage0/tpm/bank_hash.h"

namespace rkt::tpm {

namespace {

using nlohmann::json;

constexpr char kRecordSeparator = '\x1e';
constexpr size_t kMaxLogBytes = size_t{256} << 20;
constexpr size_t kMaxRecordBytes = size_t{1} << 20;
constexpr size_t kMaxNesting = 16;

std::string record_text(const json& j) {
    std::string out(1, kRecordSeparator);
    out += j.dump();
    out += '\n';
    return out;
}

// A JSON list of {"hashAlg", "digest"} as CEL writes digests.
std::vector<BankValue> banks_from_json(const json& j, const char* what) {
    if (!j.is_array() || j.size() > 8) throw Error(std::string(what) + " must be a short array");
    std::vector<BankValue> out;
    std::set<std::string> seen;
    for (const auto& d : j) {
        if (!d.is_object() || !d.contains("hashAlg") || !d.contains("digest") ||
            !d["hashAlg"].is_string() || !d["digest"].is_string())
            throw Error(std::string(what) + " entries must be {\"hashAlg\", \"digest\"} strings");
        std::string alg = d["hashAlg"].get<std::string>();
        size_t size = bank_digest_size(alg);
        if (!size)
            throw Error(std::string(what) + ": unsupported hashAlg '" +
                        strings::printable(alg, 16) + "'");
        if (!seen.insert(alg).second) throw Error(std::string(what) + ": " + alg + " twice");
        auto bytes = strings::from_hex(d["digest"].get<std::string>());
        if (!bytes || bytes->size() != size)
            throw Error(std::string(what) + ": the " + alg + " digest is not " +
                        std::to_string(size * 2) + " hex digits");
        out.push_back({alg, std::move(*bytes)});
    }
    return out;
}

uint64_t unsigned_field(const json& j, const char* key, uint64_t max) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned() || it->get<uint64_t>() > max)
        throw Error(std::string("\"") + key + "\" must be a number up to " + std::to_string(max));
    return it->get<uint64_t>();
}

std::string string_field(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string() || it->get<std::string>().size() > 4096)
        throw Error(std::string("\"") + key + "\" must be a short string");
    return it->get<std::string>();
}

// Bank names in a canonical order, to compare two lists of banks as sets.
std::vector<std::string> sorted_algs(const std::vector<BankValue>& v) {
    std::vector<std::string> out = bank_algs(v);
    std::sort(out.begin(), out.end());
    return out;
}

LogHeader parse_header(const json& j) {
    if (string_field(j, "content_type") != kHeaderContentType)
        throw Error("record 0 is not rkt's log header (content_type \"rkt_log\")");
    const json& c = j.at("content");
    if (!c.is_object()) throw Error("the header's content is not an object");
    if (unsigned_field(c, "log_version", 1000) != kLogVersion)
        throw Error("log_version " + c["log_version"].dump() + " is not " +
                    std::to_string(kLogVersion) + " (a log of another rkt)");
    LogHeader h;
    h.pcr = static_cast<unsigned>(unsigned_field(j, "pcr", 23));
    h.tpm = string_field(c, "tpm");
    h.boot.reset_count = static_cast<uint32_t>(unsigned_field(c, "reset_count", UINT32_MAX));
    h.boot.restart_count = static_cast<uint32_t>(unsigned_field(c, "restart_count", UINT32_MAX));
    h.pcr_start = banks_from_json(c.at("pcr_start"), "pcr_start");
    if (h.pcr_start.empty()) throw Error("the header names no PCR bank");
    return h;
}

LogEvent parse_event(const json& j, const LogHeader& h, uint64_t expected_recnum) {
    LogEvent e;
    e.recnum = unsigned_field(j, "recnum", UINT64_MAX);
    if (e.recnum != expected_recnum)
        throw Error("recnum " + std::to_string(e.recnum) + " where " +
                    std::to_string(expected_recnum) + " belongs (a record is missing or moved)");
    e.pcr = static_cast<unsigned>(unsigned_field(j, "pcr", 23));
    if (e.pcr != h.pcr)
        throw Error("PCR " + std::to_string(e.pcr) + " in a log of PCR " + std::to_string(h.pcr));
    if (string_field(j, "content_type") != kEventContentType)
        throw Error("content_type is not \"rkt\"");
    e.digests = banks_from_json(j.at("digests"), "digests");
    if (sorted_algs(e.digests) != sorted_algs(h.pcr_start))
        throw Error("its digests are not of the log's banks");
    e.content = j.at("content");
    if (!e.content.is_object() || !e.content.contains("pod") || !e.content["pod"].is_string())
        throw Error("its content is not an object naming a pod");
    if (auto it = j.find("rkt_pcr_after"); it != j.end())
        e.pcr_after = banks_from_json(*it, "rkt_pcr_after");
    return e;
}

}  // namespace

std::string canonical_content(const json& content) {
    // nlohmann::json keeps object keys sorted, and dump() has no whitespace: one text per value.
    return content.dump();
}

std::vector<BankValue> content_digests(const json& content, const std::vector<std::string>& banks) {
    std::string text = canonical_content(content);
    std::vector<BankValue> out;
    out.reserve(banks.size());
    for (const auto& alg : banks) out.push_back({alg, bank_digest(alg, text)});
    return out;
}

json banks_to_json(const std::vector<BankValue>& values) {
    json out = json::array();
    for (const auto& v : values)
        out.push_back(
            {{"hashAlg", v.alg}, {"digest", strings::to_hex(v.bytes.data(), v.bytes.size())}});
    return out;
}

std::string header_record(const LogHeader& h) {
    json content = {{"log_version", kLogVersion},
                    {"tpm", h.tpm},
                    {"reset_count", h.boot.reset_count},
                    {"restart_count", h.boot.restart_count},
                    {"pcr_start", banks_to_json(h.pcr_start)}};
    return record_text({{"recnum", 0},
                        {"pcr", h.pcr},
                        {"digests", json::array()},
                        {"content_type", kHeaderContentType},
                        {"content", content}});
}

std::string event_record(const LogEvent& e) {
    json j = {{"recnum", e.recnum},
              {"pcr", e.pcr},
              {"digests", banks_to_json(e.digests)},
              {"content_type", kEventContentType},
              {"content", e.content}};
    if (!e.pcr_after.empty()) j["rkt_pcr_after"] = banks_to_json(e.pcr_after);
    return record_text(j);
}

EventLog parse_log(std::string_view text) {
    if (text.size() > kMaxLogBytes) throw Error("the event log is larger than 256 MiB");
    if (text.empty()) throw Error("the event log is empty (its header record is missing)");
    EventLog log;
    size_t pos = 0;
    for (uint64_t recnum = 0; pos < text.size(); ++recnum) {
        std::string where =
            "record " + std::to_string(recnum) + " (at byte " + std::to_string(pos) + ")";
        if (text[pos] != kRecordSeparator)
            throw Error("the event log is corrupt at " + where + ": no record separator");
        size_t end = text.find(kRecordSeparator, pos + 1);
        if (end == std::string_view::npos) end = text.size();
        std::string_view body = text.substr(pos + 1, end - pos - 1);
        if (body.empty() || body.back() != '\n')
            throw Error("the event log is truncated at " + where +
                        ": the record does not end with a newline");
        if (body.size() > kMaxRecordBytes)
            throw Error("the event log's " + where + " is larger than 1 MiB");
        if (strings::json_nesting_depth(body) > kMaxNesting)
            throw Error("the event log's " + where + " nests deeper than 16 levels");
        with_context("the event log's " + where + " is not valid", [&] {
            json j = json::parse(body, nullptr, false);
            if (j.is_discarded() || !j.is_object()) throw Error("not a JSON object");
            try {
                if (recnum == 0) {
                    if (unsigned_field(j, "recnum", UINT64_MAX) != 0)
                        throw Error("the first record is not record 0");
                    log.header = parse_header(j);
                } else {
                    log.events.push_back(parse_event(j, log.header, recnum));
                }
            } catch (const json::exception& e) {
                throw Error(std::string("missing or mistyped field: ") + e.what());
            }
        });
        pos = end;
    }
    return log;
}

EventLog read_log(const std::filesystem::path& path) {
    return with_context(path.string(),
                        [&] { return parse_log(fs::read_file_limited(path, kMaxLogBytes)); });
}

void append_record(const std::filesystem::path& path, const std::string& record) {
    UniqueFd fd = fs::open_file(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    size_t done = 0;
    while (done < record.size()) {
        ssize_t n = ::write(fd.get(), record.data() + done, record.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw system_error("appending to " + path.string());
        done += static_cast<size_t>(n);
    }
    check_sys(::fdatasync(fd.get()), "syncing " + path.string());
}

void create_log(const std::filesystem::path& path, const LogHeader& h) {
    fs::write_file_atomic(path, header_record(h), 0600, fs::Durability::kFsync);
}

}  // namespace rkt::tpm
