// rkt tpm: the measured-launch event log, its replay against the PCR, and quotes for remote
// verifiers (docs/tpm.md).
#include <iostream>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "stage0/commands/commands.h"
#include "stage0/commands/json_output.h"
#include "stage0/table.h"
#include "stage0/tpm/bank_hash.h"
#include "stage0/tpm/event_log.h"
#include "stage0/tpm/launch_measurements.h"
#include "stage0/tpm/log_verify.h"
#include "stage0/tpm/tpm_child.h"

namespace rkt::commands {

namespace {

using nlohmann::json;
namespace stdfs = std::filesystem;

// The exit code of a log that does not match: distinct from 254, which says nothing was checked.
constexpr int kMismatchExitCode = 1;

std::string tcti_or_fail(const tpm::TpmSettings& s) {
    std::string tcti = tpm::effective_tcti(s);
    if (tcti.empty())
        throw Error(
            "there is no TPM (no /dev/tpmrm0): give one with --tpm-tcti, or a tcti in "
            "tpm.d");
    return tcti;
}

json log_to_json(const tpm::EventLog& log) {
    json out = json::array();
    auto add = [&](const std::string& record) { out.push_back(json::parse(record.substr(1))); };
    add(tpm::header_record(log.header));
    for (const auto& e : log.events) add(tpm::event_record(e));
    return out;
}

std::string short_digest(const tpm::LogEvent& e) {
    for (const auto& d : e.digests)
        if (d.alg == "sha256") return "sha256:" + strings::to_hex(d.bytes.data(), 8);
    const auto& d = e.digests.front();
    return d.alg + ":" + strings::to_hex(d.bytes.data(), 8);
}

// What a record measured, in a few words for the table.
std::string what_of(const json& c) {
    auto s = [&](const char* k) {
        return c.contains(k) && c[k].is_string() ? c[k].get<std::string>() : "";
    };
    std::string kind = s("kind");
    if (kind == "image") return s("app") + ": " + s("image");
    if (kind == "app-disk")
        return s("app") + ": root hash " +
               (c.contains("verity") && c["verity"].is_object()
                    ? c["verity"].value("root_hash", "").substr(0, 16)
                    : "");
    if (kind == "app-tree") return s("app") + ": " + s("digest").substr(0, 23);
    if (kind == "pod-manifest") return s("digest").substr(0, 23);
    if (kind == "isolation") {
        std::string out = s("stage1");
        if (c.contains("insecure_options") && !c["insecure_options"].empty())
            out += " insecure=" + c["insecure_options"].dump();
        if (!s("private_users").empty()) out += " private-users";
        return out;
    }
    return s("path");
}

void print_log(const tpm::EventLog& log) {
    std::cout << "PCR " << log.header.pcr << " of TPM " << log.header.tpm << ", reset count "
              << log.header.boot.reset_count << ", restart count " << log.header.boot.restart_count
              << "\n";
    Table table({"RECNUM", "POD", "KIND", "WHAT", "DIGEST"});
    for (const auto& e : log.events)
        table.add_row({std::to_string(e.recnum), e.content.value("pod", "").substr(0, 8),
                       e.content.value("kind", ""), strings::printable(what_of(e.content), 72),
                       short_digest(e)});
    table.print(std::cout, true);
}

std::vector<tpm::BankValue> parse_pcr_values(const std::vector<std::string>& values) {
    std::vector<tpm::BankValue> out;
    for (const auto& v : values) {
        auto colon = v.find(':');
        std::string alg = v.substr(0, colon);
        auto bytes =
            colon == std::string::npos ? std::nullopt : strings::from_hex(v.substr(colon + 1));
        if (!tpm::is_supported_bank(alg) || !bytes || bytes->size() != tpm::bank_digest_size(alg))
            throw Error(
                "--pcr-value must be BANK:HEX with BANK sha1, sha256, sha384 or sha512 and "
                "HEX its digest, not '" +
                strings::printable(v, 80) + "'");
        out.push_back({alg, std::move(*bytes)});
    }
    return out;
}

// Measures again what the records name; the first that changed breaks the log.
std::optional<std::string> recheck_records(const tpm::EventLog& log, size_t& checked,
                                           size_t& gone) {
    for (const auto& e : log.events) {
        tpm::Recheck r = tpm::recheck_measurement(e.content);
        switch (r.outcome) {
            case tpm::Recheck::Outcome::kSame:
                ++checked;
                break;
            case tpm::Recheck::Outcome::kGone:
                ++gone;
                break;
            case tpm::Recheck::Outcome::kNotFileBacked:
                break;
            case tpm::Recheck::Outcome::kChanged:
                return tpm::describe_record(e) + ": " + r.what +
                       " has changed since it was "
                       "measured (it is " +
                       r.now + " now)";
        }
    }
    return std::nullopt;
}

struct VerifyOpts {
    bool log_only = false;
    std::string log_file;
    std::vector<std::string> pcr_values;
    std::string format;
};

void do_verify(Context& ctx, const VerifyOpts& o) {
    tpm::VerifyInput input;
    tpm::EventLog log;
    if (!o.log_file.empty()) {
        // Offline, as a remote verifier does: the PCR value comes from a checked quote.
        if (o.pcr_values.empty())
            throw Error("--log needs --pcr-value=BANK:HEX, the PCR value a quote vouches for");
        input.pcr = parse_pcr_values(o.pcr_values);
        log = tpm::read_log(o.log_file);
    } else {
        Context::ensure_superuser();
        if (!o.pcr_values.empty()) throw Error("--pcr-value is for --log (offline verification)");
        tpm::TpmPaths paths = ctx.tpm_paths();
        if (!fs::read_file_if_exists(paths.log()))
            throw Error("there is no TPM event log yet (" + paths.log().string() +
                        "): no pod was measured");
        log = tpm::read_log(paths.log());
        tpm::TpmSettings s = ctx.tpm_settings();
        tpm::TpmChild child(tcti_or_fail(s), s.timeout);
        input.pcr = child.read(log.header.pcr);
        input.tpm = child.identity();
        input.boot = child.boot_counters();
    }
    tpm::VerifyResult r = tpm::verify_log(log, input);
    std::optional<std::string> changed;
    size_t checked = 0, gone = 0;
    if (r.ok && !o.log_only) changed = recheck_records(log, checked, gone);
    if (!o.format.empty()) {
        json out = {{"match", r.ok && !changed},
                    {"message", changed ? *changed : r.message},
                    {"records", log.events.size()},
                    {"replayed", tpm::banks_to_json(r.replayed)}};
        if (r.broken) out["broken_record"] = *r.broken;
        print_json(out, o.format);
    }
    if (!r.ok || changed) {
        if (o.format.empty())
            std::cerr << "verify: FAILED: " << (changed ? *changed : r.message) << "\n";
        ctx.exit_code = kMismatchExitCode;
        return;
    }
    if (o.format.empty()) {
        std::cout << "verify: OK: " << r.message;
        if (!o.log_only)
            std::cout << "; " << checked << " measured files, trees and disks unchanged"
                      << (gone ? ", " + std::to_string(gone) + " no longer present" : "");
        std::cout << "\n";
    }
}

struct QuoteOpts {
    std::string nonce;
    std::string out;
    std::string bank = "sha256";
};

void do_quote(Context& ctx, const QuoteOpts& o) {
    Context::ensure_superuser();
    auto nonce = strings::from_hex(o.nonce);
    if (!nonce || nonce->empty() || nonce->size() > 64)
        throw Error("--nonce must be 1 to 64 bytes in hex (the verifier's fresh random value)");
    if (!tpm::is_supported_bank(o.bank))
        throw Error("--bank must be sha1, sha256, sha384 or sha512");
    tpm::TpmSettings s = ctx.tpm_settings();
    tpm::TpmPaths paths = ctx.tpm_paths();
    std::string log_text = fs::read_file_if_exists(paths.log()).value_or("");
    if (log_text.empty())
        throw Error("there is no TPM event log yet (" + paths.log().string() +
                    "): no pod was measured");
    tpm::EventLog log = tpm::parse_log(log_text);
    tpm::TpmChild child(tcti_or_fail(s), s.timeout);
    fs::make_dirs(paths.dir, 0700);
    std::string pem = child.attestation_key(paths.key_dir());
    tpm::QuoteFiles q = child.quote(paths.key_dir(), log.header.pcr, o.bank, *nonce);
    std::vector<tpm::BankValue> pcr = child.read(log.header.pcr);
    stdfs::path out = o.out;
    fs::make_dirs(out, 0755);
    auto bytes = [](const std::vector<uint8_t>& v) {
        return std::string_view(reinterpret_cast<const char*>(v.data()), v.size());
    };
    fs::write_file_atomic(out / "quote.msg", bytes(q.message), 0644);
    fs::write_file_atomic(out / "quote.sig", bytes(q.signature), 0644);
    fs::write_file_atomic(out / "quote.pcrs", bytes(q.pcrs), 0644);
    fs::write_file_atomic(out / "ak.pem", pem, 0644);
    fs::write_file_atomic(out / "log.cel", log_text, 0644);
    auto value = tpm::find_bank(pcr, o.bank);
    json info = {{"pcr", log.header.pcr},
                 {"bank", o.bank},
                 {"nonce", o.nonce},
                 {"tpm", log.header.tpm},
                 {"pcr_value", value ? strings::to_hex(value->data(), value->size()) : ""},
                 {"files",
                  {{"message", "quote.msg"},
                   {"signature", "quote.sig"},
                   {"pcrs", "quote.pcrs"},
                   {"attestation_key", "ak.pem"},
                   {"event_log", "log.cel"}}},
                 {"check",
                  {"tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f quote.pcrs -g " +
                       o.bank + " -q " + o.nonce,
                   "rkt tpm verify --log=log.cel --pcr-value=" + o.bank + ":<the quoted value>"}}};
    fs::write_file_atomic(out / "quote.json", info.dump(2) + "\n", 0644);
    std::cout << "quote of PCR " << log.header.pcr << " (" << o.bank << ") written to "
              << out.string() << "; check it with:\n  cd " << out.string() << " && "
              << info["check"][0].get<std::string>() << "\n  rkt tpm verify --log=log.cel "
              << "--pcr-value=" << o.bank << ":" << info["pcr_value"].get<std::string>() << "\n";
}

}  // namespace

void add_tpm(CLI::App& app, Context& ctx) {
    auto* tpm = app.add_subcommand("tpm", "Measured launches: the TPM event log, verify, quote");
    tpm->require_subcommand(1);

    auto format = std::make_shared<std::string>();
    auto* log_cmd = tpm->add_subcommand("log", "Print the event log of measured launches");
    log_cmd->add_option("--format", *format, "json or json-pretty (default: a table)");
    log_cmd->callback([&ctx, format] {
        log::set_prefix("tpm log");
        check_json_format(*format);
        Context::ensure_superuser();
        tpm::TpmPaths paths = ctx.tpm_paths();
        if (!fs::read_file_if_exists(paths.log()))
            throw Error("there is no TPM event log yet (" + paths.log().string() +
                        "): no pod was measured");
        tpm::EventLog log = tpm::read_log(paths.log());
        if (format->empty())
            print_log(log);
        else
            print_json(log_to_json(log), *format);
    });

    auto v = std::make_shared<VerifyOpts>();
    auto* verify = tpm->add_subcommand(
        "verify", "Replay the event log against the PCR, and measure again the files it names");
    verify->add_flag("--log-only", v->log_only,
                     "only replay the log; do not measure again the files its records name");
    verify->add_option("--log", v->log_file,
                       "verify this log offline (e.g. from a quote) against --pcr-value");
    verify->add_option("--pcr-value", v->pcr_values,
                       "BANK:HEX, the PCR's value (from a checked quote); with --log");
    verify->add_option("--format", v->format, "json or json-pretty");
    verify->callback([&ctx, v] {
        log::set_prefix("tpm verify");
        check_json_format(v->format);
        do_verify(ctx, *v);
    });

    auto q = std::make_shared<QuoteOpts>();
    auto* quote = tpm->add_subcommand(
        "quote", "Write a TPM quote of the PCR, the attestation key and the event log");
    quote->add_option("--nonce", q->nonce, "the verifier's nonce, hex (1-64 bytes)")->required();
    quote->add_option("--out", q->out, "directory to write the quote into")->required();
    quote->add_option("--bank", q->bank, "PCR bank to quote")->capture_default_str();
    quote->callback([&ctx, q] {
        log::set_prefix("tpm quote");
        do_quote(ctx, *q);
    });
}

}  // namespace rkt::commands
