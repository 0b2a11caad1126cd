// The event log's format, read back as hostile input.
#include "stage0/tpm/event_log.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"
#include "stage0/tpm/bank_hash.h"

namespace rkt::tpm {
namespace {

using nlohmann::json;

LogHeader header() {
    return {23,
            "sha256:" + std::string(64, 'a'),
            {3, 0},
            {{"sha1", reset_value("sha1")}, {"sha256", reset_value("sha256")}}};
}

LogEvent event(uint64_t recnum, const std::string& kind) {
    LogEvent e;
    e.recnum = recnum;
    e.pcr = 23;
    e.content = {{"pod", "4f3c1a2b-0000-4000-8000-000000000000"}, {"kind", kind}};
    e.digests = content_digests(e.content, {"sha1", "sha256"});
    return e;
}

std::string two_events() {
    return header_record(header()) + event_record(event(1, "stage1")) +
           event_record(event(2, "pod-manifest"));
}

TEST(EventLog, RoundTrips) {
    EventLog log = parse_log(two_events());
    EXPECT_EQ(log.header.tpm, header().tpm);
    EXPECT_EQ(log.header.boot.reset_count, 3u);
    ASSERT_EQ(log.events.size(), 2u);
    EXPECT_EQ(log.events[1].content["kind"], "pod-manifest");
    EXPECT_EQ(log.events[0].digests[1].bytes,
              bank_digest("sha256", canonical_content(log.events[0].content)));
}

TEST(EventLog, RecordsAreJsonTextSequences) {
    std::string r = event_record(event(1, "stage1"));
    ASSERT_GE(r.size(), 3u);
    EXPECT_EQ(r.front(), '\x1e');
    EXPECT_EQ(r.back(), '\n');
    json j = json::parse(r.substr(1));
    EXPECT_EQ(j["content_type"], "rkt");
    EXPECT_EQ(j["digests"][0]["hashAlg"], "sha1");
}

TEST(EventLog, CanonicalContentIgnoresKeyOrder) {
    json a = json::parse(R"({"pod":"p","kind":"k","digest":"d"})");
    json b = json::parse(R"({"digest":"d","kind":"k","pod":"p"})");
    EXPECT_EQ(canonical_content(a), canonical_content(b));
}

void expect_refused(const std::string& text, const std::string& words) {
    try {
        parse_log(text);
        ADD_FAILURE() << "accepted: " << strings::printable(text);
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
}

TEST(EventLog, TruncatedLastRecordIsNamed) {
    std::string text = two_events();
    expect_refused(text.substr(0, text.size() - 5), "truncated at record 2");
}

TEST(EventLog, RefusesHostileLogs) {
    expect_refused("", "empty");
    expect_refused("{}\n", "no record separator");
    expect_refused(std::string("\x1e") + "[1]\n", "not a JSON object");
    expect_refused(std::string("\x1e") + std::string(40, '[') + "\n", "nests deeper");
    // A record out of sequence, one from another PCR, a digest of the wrong size or bank.
    expect_refused(header_record(header()) + event_record(event(2, "x")), "recnum 2 where 1");
    LogEvent other_pcr = event(1, "x");
    other_pcr.pcr = 16;
    expect_refused(header_record(header()) + event_record(other_pcr), "PCR 16 in a log of PCR 23");
    std::string rec = event_record(event(1, "x"));
    std::string short_digest = rec;
    short_digest.replace(short_digest.find("\"digest\":\"") + 10, 2, "");
    expect_refused(header_record(header()) + short_digest, "not 40 hex digits");
    LogEvent one_bank = event(1, "x");
    one_bank.digests.pop_back();
    expect_refused(header_record(header()) + event_record(one_bank), "not of the log's banks");
    LogEvent no_pod = event(1, "x");
    no_pod.content.erase("pod");
    expect_refused(header_record(header()) + event_record(no_pod), "naming a pod");
    expect_refused(event_record(event(1, "x")), "the first record is not record 0");
}

TEST(EventLog, AppendKeepsOrder) {
    auto dir = std::filesystem::temp_directory_path() / ("rkt-log-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto path = dir / "log.cel";
    create_log(path, header());
    append_record(path, event_record(event(1, "a")));
    append_record(path, event_record(event(2, "b")) + event_record(event(3, "c")));
    EventLog log = read_log(path);
    ASSERT_EQ(log.events.size(), 3u);
    EXPECT_EQ(log.events[2].content["kind"], "c");
    EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rkt::tpm
