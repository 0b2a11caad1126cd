#include "stage0/trust/simple_signing.h"

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/error.h"
#include "common/strings.h"

namespace rkt::trust {

namespace {

using json = nlohmann::json;

// The member named `key` compared case-insensitively (Go's decoder matches that way, and cosign's
// own example writes "Docker-manifest-digest").
const json* member(const json& obj, std::string_view key) {
    const json* found = nullptr;
    for (const auto& [k, v] : obj.items()) {
        if (strings::to_lower(k) != key) continue;
        if (found) throw Error("member \"" + std::string(key) + "\" appears more than once");
        found = &v;
    }
    return found;
}

void only_members(const json& obj, std::initializer_list<std::string_view> allowed,
                  const std::string& where) {
    for (const auto& [k, v] : obj.items()) {
        bool ok = false;
        for (auto a : allowed) ok = ok || strings::to_lower(k) == a;
        if (!ok) throw Error("unknown member \"" + k.substr(0, 64) + "\" in " + where);
    }
}

const json& object_member(const json& obj, std::string_view key, const std::string& where) {
    const json* m = member(obj, key);
    if (!m || !m->is_object()) throw Error(where + " has no \"" + std::string(key) + "\" object");
    return *m;
}

std::string string_member(const json& obj, std::string_view key, const std::string& where) {
    const json* m = member(obj, key);
    if (!m || !m->is_string()) throw Error(where + " has no \"" + std::string(key) + "\" string");
    return m->get<std::string>();
}

}  // namespace

std::string make_payload(const std::string& docker_reference, const std::string& manifest_digest) {
    json j = {{"critical",
               {{"identity", {{"docker-reference", docker_reference}}},
                {"image", {{"docker-manifest-digest", manifest_digest}}},
                {"type", std::string(kCosignType)}}},
              {"optional", nullptr}};
    return j.dump();
}

PayloadClaims parse_payload(std::string_view payload) {
    return with_context("invalid signature payload", [&] {
        if (payload.size() > 64 << 10) throw Error("larger than 64 KiB");
        json j = json::parse(payload, nullptr, false);
        if (j.is_discarded() || !j.is_object()) throw Error("not a JSON object");
        only_members(j, {"critical", "optional"}, "the payload");
        const json* opt = member(j, "optional");
        if (opt && !opt->is_null() && !opt->is_object())
            throw Error("\"optional\" is neither null nor an object");
        const json& critical = object_member(j, "critical", "the payload");
        only_members(critical, {"identity", "image", "type"}, "\"critical\"");
        PayloadClaims c;
        c.type = string_member(critical, "type", "\"critical\"");
        if (c.type != kCosignType && c.type != kAtomicType)
            throw Error("unknown signature type \"" + c.type.substr(0, 64) + "\"");
        const json& identity = object_member(critical, "identity", "\"critical\"");
        only_members(identity, {"docker-reference"}, "\"critical.identity\"");
        c.docker_reference = string_member(identity, "docker-reference", "\"critical.identity\"");
        const json& image = object_member(critical, "image", "\"critical\"");
        only_members(image, {"docker-manifest-digest"}, "\"critical.image\"");
        c.manifest_digest = string_member(image, "docker-manifest-digest", "\"critical.image\"");
        if (!is_valid_sha256_digest(c.manifest_digest))
            throw Error("\"docker-manifest-digest\" is not a sha256 digest");
        return c;
    });
}

std::string reference_repository(std::string_view ref) {
    return std::string(strings::image_repository(ref));
}

}  // namespace rkt::trust
