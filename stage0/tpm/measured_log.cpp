#include "stage0/tpm/measured_log.h"

#include "common/error.h"
#include "common/file_lock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "stage0/tpm/bank_hash.h"
#include "stage0/tpm/event_log.h"
#include "stage0/tpm/tpm_child.h"

namespace rkt::tpm {

namespace {

namespace stdfs = std::filesystem;

std::string boot_id() {
    auto id = fs::read_file_if_exists("/proc/sys/kernel/random/boot_id");
    return id ? strings::trim(*id) : "";
}

// Once per boot, not once per pod: a host without a TPM runs many pods.
void note_unmeasured(const TpmPaths& paths, const std::string& why) {
    std::string boot = boot_id();
    auto noted = fs::read_file_if_exists(paths.unmeasured_note());
    if (noted && strings::trim(*noted) == boot) return;
    log::warn("pods are not measured: " + why +
              " (--tpm=off says nothing; --tpm=required refuses to run; docs/tpm.md)");
    try {
        fs::write_file_atomic(paths.unmeasured_note(), boot + "\n", 0600,
                              fs::Durability::kAtomicOnly);
    } catch (const Error&) {
        // Saying it again next time is the only harm.
    }
}

// The PCR's value after the log's last record, replayed from its header.
std::vector<BankValue> replay_end(const EventLog& log) {
    std::vector<BankValue> pcr = log.header.pcr_start;
    for (const auto& e : log.events) extend_banks(pcr, e.digests);
    return pcr;
}

// Moves the old log aside as log-<N>.cel, keeping it for whoever wants to verify it later.
void keep_old_log(const TpmPaths& paths, const std::string& why) {
    for (int n = 1; n < 100000; ++n) {
        stdfs::path kept = paths.dir / ("log-" + std::to_string(n) + ".cel");
        std::error_code ec;
        if (stdfs::exists(kept, ec)) continue;
        stdfs::rename(paths.log(), kept, ec);
        if (ec) throw Error("cannot move the old event log aside: " + ec.message());
        log::warn("a new TPM event log begins (" + why + "); the old one is kept as " +
                  kept.string());
        return;
    }
    throw Error("too many old event logs in " + paths.dir.string());
}

// The log this launch appends to: the current one, or a new one when the PCR was reset (a new
// boot) or changed by someone other than rkt. A log that cannot be read, or that belongs to
// another TPM, is an error: rkt never overwrites what a verifier may still need. The TPM's
// identity costs a key derivation (tens of milliseconds on some TPMs), so it is asked for only
// when the log does not simply continue: the same boot counters and the PCR at the log's replay
// cannot come from another TPM but by a hash collision.
EventLog prepare_log(const TpmPaths& paths, unsigned pcr,
                     const std::function<std::string()>& identity, const BootCounters& boot,
                     const std::vector<BankValue>& pcr_now) {
    if (fs::read_file_if_exists(paths.log())) {
        EventLog log = with_context("the TPM event log is unusable; move " + paths.log().string() +
                                        " aside to start a new one",
                                    [&] { return read_log(paths.log()); });
        const bool same_boot = log.header.boot.reset_count == boot.reset_count &&
                               log.header.boot.restart_count == boot.restart_count;
        if (same_boot && log.header.pcr == pcr && same_values(replay_end(log), pcr_now)) return log;
        std::string id = identity();
        if (log.header.tpm != id)
            throw Error("the TPM event log " + paths.log().string() + " belongs to another TPM (" +
                        log.header.tpm + ", this one is " + id +
                        "); move it aside to start a new one");
        keep_old_log(paths, !same_boot ? "the TPM was reset or restarted since the log began"
                            : log.header.pcr != pcr
                                ? "the PCR changed from " + std::to_string(log.header.pcr) +
                                      " to " + std::to_string(pcr)
                                : "PCR " + std::to_string(pcr) + " was extended outside rkt");
        EventLog fresh{LogHeader{pcr, id, boot, pcr_now}, {}};
        create_log(paths.log(), fresh.header);
        return fresh;
    }
    EventLog fresh{LogHeader{pcr, identity(), boot, pcr_now}, {}};
    create_log(paths.log(), fresh.header);
    return fresh;
}

}  // namespace

MeasureOutcome measure_launch(const TpmSettings& settings, const TpmPaths& paths,
                              const std::string& uuid,
                              const std::function<std::vector<nlohmann::json>()>& measure) {
    if (settings.mode == TpmMode::kOff) return MeasureOutcome::kOff;
    const bool required = settings.mode == TpmMode::kRequired;
    std::string tcti = effective_tcti(settings);
    if (tcti.empty() && required)
        throw Error(
            "--tpm=required, but there is no TPM: no /dev/tpmrm0, and no --tpm-tcti or tcti in "
            "tpm.d");
    // Root's alone: data_dir::secure keeps it so once it exists.
    fs::make_dirs(paths.dir, 0700);
    if (tcti.empty()) {
        note_unmeasured(paths, "there is no TPM (no /dev/tpmrm0)");
        return MeasureOutcome::kNoTpm;
    }
    FileLock lock = FileLock::acquire(paths.lock(), FileLock::Mode::kExclusive);

    // Reaching the TPM is the part auto may skip; from the first extend on, nothing is.
    std::optional<TpmChild> tpm;
    std::vector<BankValue> pcr_now;
    BootCounters boot;
    try {
        tpm.emplace(tcti, settings.timeout);
        pcr_now = tpm->read(settings.pcr);
        if (pcr_now.empty())
            throw Error("the TPM has no sha1/sha256/sha384/sha512 bank for PCR " +
                        std::to_string(settings.pcr));
        boot = tpm->boot_counters();
    } catch (const Error& e) {
        if (required) throw e.with_context("--tpm=required, but the TPM at " + tcti + " failed");
        note_unmeasured(paths, "the TPM at " + tcti + " cannot be used: " + e.what());
        return MeasureOutcome::kNoTpm;
    }

    std::vector<nlohmann::json> measurements = measure();
    EventLog log = prepare_log(
        paths, settings.pcr, [&] { return tpm->identity(); }, boot, pcr_now);
    uint64_t recnum = log.events.size() + 1;
    std::vector<std::string> banks = bank_algs(log.header.pcr_start);
    std::vector<BankValue> expected = pcr_now;
    std::string records;
    auto flush = [&] {
        if (!records.empty()) append_record(paths.log(), records);
        records.clear();
    };
    try {
        for (const auto& m : measurements) {
            LogEvent e;
            e.recnum = recnum++;
            e.pcr = settings.pcr;
            e.content = m;
            e.content["pod"] = uuid;
            e.digests = content_digests(e.content, banks);
            tpm->extend(settings.pcr, e.digests);
            extend_banks(expected, e.digests);
            e.pcr_after = expected;
            records += event_record(e);
        }
        flush();
        if (!same_values(tpm->read(settings.pcr), expected))
            throw Error("PCR " + std::to_string(settings.pcr) +
                        " was extended by someone else while rkt measured");
    } catch (const Error& e) {
        // What the TPM took is logged, so that the log still tells what happened.
        try {
            flush();
        } catch (const Error&) {
        }
        throw e.with_context("measuring pod " + uuid + " into the TPM at " + tcti);
    }
    return MeasureOutcome::kMeasured;
}

}  // namespace rkt::tpm
