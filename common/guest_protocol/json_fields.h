// The JSON side of every message's codec: strict reading of one object's fields (types, ranges,
// required and unknown keys), parsing a frame's body and writing one.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/guest_protocol/framing.h"
#include "common/guest_protocol/value_rules.h"

namespace rkt::guest {

// Reads the fields of one JSON object; every key must be consumed (finish()) so that a typo or
// a field from a newer peer is an error, not silently ignored.
class Fields {
public:
    Fields(const nlohmann::json& j, std::string where);

    bool has(const std::string& key) const { return j_.contains(key); }
    const nlohmann::json& raw(const std::string& key);

    std::string string(const std::string& key);
    std::string string_or(const std::string& key, std::string fallback);
    bool boolean(const std::string& key);
    bool boolean_or(const std::string& key, bool fallback);
    int64_t integer(const std::string& key, rules::Range range);
    int64_t integer_or(const std::string& key, rules::Range range, int64_t fallback);
    uint64_t unsigned64(const std::string& key);
    std::vector<std::string> strings(const std::string& key);
    std::vector<std::string> strings_or_empty(const std::string& key);
    const nlohmann::json& array(const std::string& key);
    int64_t checked_integer(const nlohmann::json& v, const std::string& key, rules::Range range);

    void finish();

    const std::string& where() const { return where_; }
    [[noreturn]] void fail(const std::string& what) const;

private:
    [[noreturn]] void wrong_type(const std::string& key, std::string_view expected,
                                 const nlohmann::json& got) const;

    const nlohmann::json& j_;
    std::string where_;
    std::set<std::string> seen_;
};

// A frame's JSON body, parsed; throws rkt::Error when it is not JSON, or when a frame of a type
// without a payload has one.
nlohmann::json parse_body(const Frame& frame);

// kStrict: a string that is not UTF-8 is an error (what the peer acts on); kReplace: it is
// written with U+FFFD (diagnostics, never refused for their bytes).
enum class Utf8 { kStrict, kReplace };
std::string dump_json(const nlohmann::json& j, Utf8 utf8);

}  // namespace rkt::guest
