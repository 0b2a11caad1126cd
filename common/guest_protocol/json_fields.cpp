#include "common/guest_protocol/json_fields.h"

#include "common/error.h"

namespace rkt::guest {

using nlohmann::json;

namespace {

std::string_view json_type_name(const json& j) {
    if (j.is_boolean()) return "a boolean";
    if (j.is_number_integer()) return "an integer";
    if (j.is_number()) return "a number";
    if (j.is_string()) return "a string";
    if (j.is_array()) return "an array";
    if (j.is_object()) return "an object";
    return "null";
}

}  // namespace

Fields::Fields(const json& j, std::string where) : j_(j), where_(std::move(where)) {
    if (!j_.is_object()) fail("must be an object, not " + std::string(json_type_name(j_)));
}

const json& Fields::raw(const std::string& key) {
    auto it = j_.find(key);
    if (it == j_.end()) fail("missing field \"" + key + "\"");
    seen_.insert(key);
    return *it;
}

std::string Fields::string(const std::string& key) {
    const json& v = raw(key);
    if (!v.is_string()) wrong_type(key, "a string", v);
    return v.get<std::string>();
}

std::string Fields::string_or(const std::string& key, std::string fallback) {
    return has(key) ? string(key) : std::move(fallback);
}

bool Fields::boolean(const std::string& key) {
    const json& v = raw(key);
    if (!v.is_boolean()) wrong_type(key, "a boolean", v);
    return v.get<bool>();
}

bool Fields::boolean_or(const std::string& key, bool fallback) {
    return has(key) ? boolean(key) : fallback;
}

int64_t Fields::integer(const std::string& key, rules::Range range) {
    return checked_integer(raw(key), key, range);
}

int64_t Fields::integer_or(const std::string& key, rules::Range range, int64_t fallback) {
    return has(key) ? integer(key, range) : fallback;
}

uint64_t Fields::unsigned64(const std::string& key) {
    const json& v = raw(key);
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
        wrong_type(key, "a non-negative integer", v);
    return v.get<uint64_t>();
}

std::vector<std::string> Fields::strings(const std::string& key) {
    const json& v = raw(key);
    if (!v.is_array()) wrong_type(key, "an array of strings", v);
    std::vector<std::string> out;
    for (const auto& e : v) {
        if (!e.is_string()) wrong_type(key, "an array of strings", e);
        out.push_back(e.get<std::string>());
    }
    return out;
}

std::vector<std::string> Fields::strings_or_empty(const std::string& key) {
    return has(key) ? strings(key) : std::vector<std::string>{};
}

const json& Fields::array(const std::string& key) {
    const json& v = raw(key);
    if (!v.is_array()) wrong_type(key, "an array", v);
    return v;
}

int64_t Fields::checked_integer(const json& v, const std::string& key, rules::Range range) {
    if (!v.is_number_integer()) wrong_type(key, "an integer", v);
    // Unsigned values above INT64_MAX do not fit: out of range for every field here.
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        fail("\"" + key + "\" is out of range");
    int64_t x = v.get<int64_t>();
    rules::check_range(where_, key, x, range);
    return x;
}

void Fields::finish() {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
        if (!seen_.count(it.key())) fail("unknown field \"" + it.key() + "\"");
    }
}

void Fields::fail(const std::string& what) const {
    rules::invalid(where_, what);
}

void Fields::wrong_type(const std::string& key, std::string_view expected, const json& got) const {
    fail("\"" + key + "\" must be " + std::string(expected) + ", not " +
         std::string(json_type_name(got)));
}

json parse_body(const Frame& frame) {
    const std::string name(message_type_name(frame.type));
    if (!frame.payload.empty() && !carries_payload(frame.type))
        throw Error(name + ": unexpected binary payload");
    try {
        return json::parse(frame.json);
    } catch (const json::exception& e) {
        throw Error(name + ": the body is not valid JSON (" + e.what() + ")");
    }
}

std::string dump_json(const json& j, Utf8 utf8) {
    try {
        return j.dump(
            -1, ' ', false,
            utf8 == Utf8::kStrict ? json::error_handler_t::strict : json::error_handler_t::replace);
    } catch (const json::exception& e) {
        throw Error(std::string("cannot encode a message: a string is not valid UTF-8 (") +
                    e.what() + ")");
    }
}

}  // namespace rkt::guest
