#include "stage0/pod/measure_launch.h"

#include "stage0/tpm/launch_measurements.h"
#include "stage0/tpm/measured_log.h"

namespace rkt {

void measure_pod_launch(Context& ctx, const Stage1& stage1, const std::filesystem::path& pod_dir,
                        const std::string& uuid, const RunOptions& options) {
    tpm::TpmSettings settings = ctx.tpm_settings();
    if (settings.mode == tpm::TpmMode::kOff) return;
    tpm::TpmPaths paths = ctx.tpm_paths();
    tpm::measure_launch(settings, paths, uuid, [&] {
        // Under the TPM lock: one launch at a time reads and writes the cache.
        tpm::FileDigestCache files(paths.file_digests());
        auto measurements = tpm::launch_measurements(stage1, pod_dir, options, files);
        files.save();
        return measurements;
    });
}

}  // namespace rkt
