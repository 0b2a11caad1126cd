#include "common/guest_protocol/value_rules.h"

#include <algorithm>

#include "common/error.h"
#include "common/guest_protocol/framing.h"
#include "common/strings.h"

namespace rkt::guest::rules {

void invalid(const std::string& where, const std::string& what) {
    throw Error(where + ": " + what);
}

void check_range(const std::string& where, const std::string& key, int64_t value, Range range) {
    if (value < range.min || value > range.max)
        invalid(where, "\"" + key + "\" is " + std::to_string(value) + ", expected " +
                           std::to_string(range.min) + ".." + std::to_string(range.max));
}

bool has_nul(std::string_view s) {
    return s.find('\0') != std::string_view::npos;
}

bool is_token(std::string_view s) {
    if (s.empty() || s.size() > 255) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

void check_app_name(const std::string& where, const std::string& name) {
    if (!strings::is_valid_acname(name)) invalid(where, "\"app\" is not a valid app name");
}

void check_exec_argv(const std::string& where, const std::vector<std::string>& argv) {
    if (argv.empty() || argv.front().empty())
        invalid(where, "exec must name a program (it is empty)");
    for (const auto& arg : argv)
        if (has_nul(arg)) invalid(where, "an exec argument contains a NUL byte");
}

void check_payload_size(const std::string& where, size_t size) {
    if (size > kMaxPayloadLength)
        invalid(where, "more than " + std::to_string(kMaxPayloadLength) + " bytes");
}

}  // namespace rkt::guest::rules
