// The environment an app starts with, the same for every isolating stage1 (nspawn, and the kvm
// stage1 which hands it to guest-init): the app's own variables, with appc's defaults for what
// it leaves out.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/pod_manifest.h"

namespace rkt {

// PATH when the app's environment has none (appc's default).
inline constexpr std::string_view kDefaultAppPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// "NAME=value" entries: the app's environment, PATH and HOME (`home`) where unset, TERM (`term`)
// where unset and `term` is not empty, and AC_APP_NAME. A name that is empty or holds '=' or
// NUL, or a value holding NUL, is an error.
std::vector<std::string> app_environment(const RuntimeApp& app, const std::string& home,
                                         const std::string& term = "");

}  // namespace rkt
