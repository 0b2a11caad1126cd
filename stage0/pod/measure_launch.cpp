#include "stage0/pod/measure_launch.h"

#include "stage0/tpm/launch_measurements.h"
#include "stage0/tpm/measured_log.h"

namespace rkt {

void measure_pod_launch(Context& ctx, const Stage1& stage1, const std::filesystem::path& pod_dir,
                        const std::string& uuid, const RunOptions& options) {
    tpm::TpmSettings settings = ctx.tpm_settings();
    if (settings.mode == tpm::TpmMode::kOff) return;
    tpm::measure_launch(settings, ctx.tpm_paths(), uuid,
                        [&] { return tpm::launch_measurements(stage1, pod_dir, options); });
}

}  // namespace rkt
