// The images that pods still need: every pod that is not garbage names its images in its
// manifest. Image gc and image rm must leave these alone.
#pragma once

#include <map>
#include <set>
#include <string>

#include "stage0/context.h"

namespace rkt::commands {

// image id → uuid of one pod using it
std::map<std::string, std::string> images_in_use(Context& ctx);

}  // namespace rkt::commands
