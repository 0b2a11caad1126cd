// Registry authentication: WWW-Authenticate challenges (Bearer token and Basic) and the
// credentials users put in <config>/auth.d/*.json (rkt's dockerAuth kind).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rkt::registry {

struct Challenge {
    std::string scheme;                         // lower-cased: "bearer", "basic"
    std::map<std::string, std::string> params;  // names lower-cased: realm, service, scope, error

    std::string param(const std::string& name) const;
};

// Parses a WWW-Authenticate header value (RFC 7235): one or more challenges, each a scheme and
// comma-separated auth-params with quoted or token values. Throws Error on malformed input.
std::vector<Challenge> parse_challenges(std::string_view header);

struct Credentials {
    std::string user;
    std::string password;
};

// The "Authorization: Basic ..." value for the credentials.
std::string basic_authorization(const Credentials& c);

// dockerAuth entries from <dir>/auth.d/*.json of each config directory, later directories
// overriding earlier ones for the same registry:
//   {"rktKind":"dockerAuth","rktVersion":"v1","registries":["host:port"],
//    "credentials":{"user":"u","password":"p"}}
class CredentialStore {
public:
    static CredentialStore load(const std::vector<std::filesystem::path>& config_dirs);
    void add(const std::string& registry, Credentials c) { by_registry_[registry] = std::move(c); }
    std::optional<Credentials> find(const std::string& registry) const;

private:
    std::map<std::string, Credentials> by_registry_;
};

// The bearer token in a token server's JSON answer ("token" or "access_token").
std::string parse_token_response(std::string_view body);

}  // namespace rkt::registry
