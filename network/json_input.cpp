#include "network/json_input.h"

#include <string>

#include "common/error.h"
#include "common/strings.h"

namespace rkt::net {

nlohmann::json parse_untrusted_json(std::string_view text, std::string_view what,
                                    size_t max_bytes) {
    if (text.size() > max_bytes)
        throw Error(std::string(what) + ": larger than " + std::to_string(max_bytes) + " bytes");
    if (strings::json_nesting_depth(text) > kMaxJsonDepth)
        throw Error(std::string(what) + ": nested deeper than " + std::to_string(kMaxJsonDepth) +
                    " levels");
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded())
        throw Error(std::string(what) + ": not valid JSON: \"" + strings::printable(text, 120) +
                    "\"");
    return j;
}

}  // namespace rkt::net
