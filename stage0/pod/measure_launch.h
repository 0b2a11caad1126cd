// The measured launch of a pod (docs/tpm.md): what rkt run and rkt run-prepared do between
// preparing a pod and executing its stage1.
#pragma once

#include <filesystem>
#include <string>

#include "common/run_options.h"
#include "stage0/context.h"
#include "stage0/stage1.h"

namespace rkt {

// Measures the pod in `pod_dir` as it will run with `options`, or says why not (--tpm=auto
// without a TPM). Throws when the pod must not start: a failed measurement, or none with
// --tpm=required.
void measure_pod_launch(Context& ctx, const Stage1& stage1, const std::filesystem::path& pod_dir,
                        const std::string& uuid, const RunOptions& options);

}  // namespace rkt
