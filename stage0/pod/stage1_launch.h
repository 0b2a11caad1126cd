// Calling stage1 entrypoints with the ABI of docs/architecture.md.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/run_options.h"
#include "common/unique_fd.h"
#include "stage0/stage1.h"

namespace rkt {

// Replaces this process with stage1's `run`, handing over the pod lock as RKT_LOCK_FD.
[[noreturn]] void exec_stage1_run(const Stage1& stage1, const std::filesystem::path& pod_dir,
                                  const std::string& uuid, UniqueFd lock_fd,
                                  const RunOptions& options);

// Runs another entrypoint (stop, gc) as a child and returns its exit code. Its output goes to
// ours.
int run_stage1_entrypoint(const Stage1& stage1, const std::string& which,
                          const std::filesystem::path& pod_dir,
                          const std::vector<std::string>& args);

}  // namespace rkt
