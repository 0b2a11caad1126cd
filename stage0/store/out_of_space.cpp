#include "stage0/store/out_of_space.h"

#include <cerrno>
#include <string>

namespace rkt::store {

namespace {
constexpr std::string_view kLine = "no space left on device while writing ";
}

bool is_out_of_space(int err) {
    return err == ENOSPC || err == EDQUOT;
}

Error out_of_space(std::string_view what, const std::filesystem::path& dir) {
    return Error(std::string(kLine) + std::string(what) + " to " + dir.string() +
                     "; free space or run `rkt image gc`",
                 kErrorExitCode, ENOSPC);
}

bool needs_out_of_space_line(const Error& e) {
    return is_out_of_space(e.cause_errno()) &&
           std::string_view(e.what()).find(kLine) == std::string_view::npos;
}

}  // namespace rkt::store
