// Turns the run/prepare command line into a prepared pod directory: images obtained and
// rendered, the PodManifest and run options written, the stage1 recorded.
#pragma once

#include <string>
#include <vector>

#include "common/run_options.h"
#include "stage0/app_args.h"
#include "stage0/context.h"
#include "stage0/pod/pod_options.h"
#include "stage0/stage1.h"

namespace rkt {

struct PreparedPod {
    pod::PodStore::NewPod pod;  // in prepare/, exclusively locked
    Stage1 stage1;
    RunOptions run_options;
};

// Validates flags that do not depend on images (conflicts, formats); throws rkt's messages.
void validate_pod_flags(const PodFlags& flags, const std::vector<AppRequest>& apps);

// --hostname (run, prepare, run-prepared): refused before anything is created.
void check_hostname_flag(const std::string& hostname);

PreparedPod prepare_pod(Context& ctx, const PodFlags& flags, const std::vector<AppRequest>& apps);

// Builds the run options from flags (also used by run-prepared, which may override some).
RunOptions make_run_options(Context& ctx, const PodFlags& flags, const Stage1& stage1);

}  // namespace rkt
