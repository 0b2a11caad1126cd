// What a pod's launch measures, in order (docs/tpm.md, "What is measured"): the stage1's run
// entrypoint; for kvm the guest kernels and guest-init (the initramfs is guest-init packed);
// for each app its image and exactly what the pod reads of it (kvm: the dm-verity root hash its
// disk is mounted through; nspawn and fly: the digest of the rendered tree); the pod manifest;
// and the isolation the pod runs with. Each is the content of one event log record.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/run_options.h"
#include "stage0/stage1.h"
#include "stage0/tpm/file_digest_cache.h"

namespace rkt::tpm {

// The measurements of the pod in `pod_dir` (prepared: its pod manifest, appsinfo/ and
// run-options are written). Throws Error when something the pod will read cannot be measured.
std::vector<nlohmann::json> launch_measurements(const Stage1& stage1,
                                                const std::filesystem::path& pod_dir,
                                                const RunOptions& options, FileDigestCache& files);

// The isolation part alone: every option that weakens or changes the pod's isolation.
nlohmann::json isolation_measurement(const Stage1& stage1, const RunOptions& options);

// For `rkt tpm verify`: measures again what a record's content names, when it still exists.
struct Recheck {
    enum class Outcome { kSame, kChanged, kGone, kNotFileBacked } outcome;
    std::string what;  // e.g. "the file /usr/lib/rkt/stage1/kvm/vmlinux"
    std::string now;   // the digest it has now (kChanged)
};
Recheck recheck_measurement(const nlohmann::json& content);

}  // namespace rkt::tpm
