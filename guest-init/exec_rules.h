// How guest-init finds an app's program and words a failure to run it, the way a shell does:
// 127 when the program is not there, 126 when it is there but cannot be executed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rkt::guest_init {

inline constexpr int kExitNotFound = 127;
inline constexpr int kExitCannotExecute = 126;

// The value of NAME in a list of "NAME=value" entries, or nullptr.
const std::string* find_env(const std::vector<std::string>& env, std::string_view name);

// The paths to try for argv[0]: itself when it contains a slash, else each PATH entry + name.
std::vector<std::string> exec_candidates(const std::string& argv0, std::string_view path_env);

struct ExecFailure {
    int exit_code = kExitCannotExecute;
    std::string reason;  // "could not execute: ..."
};

// The outcome of trying every candidate: `errors[i]` is the errno execve gave for candidate i;
// `exists` says whether candidate i exists as a file (an ENOENT for an existing file means its
// interpreter is missing).
ExecFailure describe_exec_failure(const std::string& argv0,
                                  const std::vector<std::string>& candidates,
                                  const std::vector<int>& errors, const std::vector<bool>& exists);

// virtio-blk device name for a disk index: 0 → "vda", 25 → "vdz", 26 → "vdaa".
std::string virtio_disk_name(unsigned index);

}  // namespace rkt::guest_init
