// JSON from outside rkt (config files, plugin output), parsed after its size and nesting depth
// are checked: a hostile document can exhaust neither memory nor the stack.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace rkt::net {

inline constexpr size_t kMaxJsonBytes = 1 << 20;
inline constexpr size_t kMaxJsonDepth = 64;

// Throws an Error "<what>: ..." for text that is too large, too deep or not JSON.
nlohmann::json parse_untrusted_json(std::string_view text, std::string_view what,
                                    size_t max_bytes = kMaxJsonBytes);

}  // namespace rkt::net
