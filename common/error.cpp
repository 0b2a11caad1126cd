#include "common/error.h"

#include <cstring>

namespace rkt {

Error system_error(std::string_view what, int err) {
    return Error(std::string(what) + ": " + std::strerror(err), kErrorExitCode, err);
}

}  // namespace rkt
