// Trusted signing keys, laid out as rkt did:
//   <config>/trustedkeys/root.d/<fingerprint>.pem            trusted for every image
//   <config>/trustedkeys/prefix.d/<escaped prefix>/<fingerprint>.pem
// in the system config (shipped keys) and the local config (the administrator's, written by
// `rkt trust`). A prefix is an image name prefix at path boundaries ("127.0.0.1:5000/team"
// covers "127.0.0.1:5000/team/app"); '/' is stored as ','. A local file overrides the system
// file of the same name; an empty local file disables that system key.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "stage0/trust/keys.h"

namespace rkt::trust {

struct TrustedKey {
    std::string fingerprint;
    std::string prefix;  // empty for root.d keys
    std::string type;
    std::filesystem::path path;
    std::string pem;

    bool is_root() const { return prefix.empty(); }
    std::string scope() const { return prefix.empty() ? "root" : "prefix " + prefix; }
};

// Throws Error when `prefix` is not usable as an image name prefix.
void check_prefix(const std::string& prefix);
std::string escape_prefix(const std::string& prefix);
std::string unescape_prefix(const std::string& escaped);
// True when `prefix` covers `name` (equal, or a parent at a '/').
bool prefix_covers(const std::string& prefix, const std::string& name);

class Keystore {
public:
    Keystore(std::filesystem::path system_config, std::filesystem::path local_config)
        : system_(std::move(system_config)), local_(std::move(local_config)) {}

    // Every usable key (system keys not overridden), sorted by scope then fingerprint. Files
    // that do not hold a supported public key are skipped with a warning.
    std::vector<TrustedKey> list() const;
    // The keys that may sign images named `image_name`.
    std::vector<TrustedKey> keys_for(const std::string& image_name) const;
    // Stores a key in the local config, for `prefix` (empty: root). Returns what was stored.
    TrustedKey add(std::string_view pem, const std::string& prefix);
    // Removes local keys whose fingerprint starts with `fingerprint` (at least 8 hex digits).
    // Returns how many were removed.
    std::vector<TrustedKey> remove(const std::string& fingerprint);

private:
    std::filesystem::path system_, local_;
};

}  // namespace rkt::trust
