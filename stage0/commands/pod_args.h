// Resolving the pods a command names: UUIDs (or prefixes) on the command line, or --uuid-file.
#pragma once

#include <string>
#include <vector>

#include "stage0/context.h"

namespace rkt::commands {

std::vector<pod::Pod> resolve_pods(Context& ctx, const std::vector<std::string>& uuids,
                                   const std::string& uuid_file);

}  // namespace rkt::commands
