#include "network/json_input.h"

#include <string>

#include "common/error.h"
#include "common/strings.h"

namespace rkt::net {

namespace {

// The deepest nesting of arrays and objects, counted outside strings.
size_t nesting_depth(std::string_view text) {
    size_t depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

}  // namespace

nlohmann::json parse_untrusted_json(std::string_view text, std::string_view what,
                                    size_t max_bytes) {
    if (text.size() > max_bytes)
        throw Error(std::string(what) + ": larger than " + std::to_string(max_bytes) + " bytes");
    if (nesting_depth(text) > kMaxJsonDepth)
        throw Error(std::string(what) + ": nested deeper than " + std::to_string(kMaxJsonDepth) +
                    " levels");
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded())
        throw Error(std::string(what) + ": not valid JSON: \"" + strings::printable(text, 120) +
                    "\"");
    return j;
}

}  // namespace rkt::net
