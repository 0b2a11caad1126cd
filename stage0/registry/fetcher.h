// `docker://` images into the store: resolve the reference to this platform's manifest, check
// its signature against the keystore (unless told not to), download the blobs the store lacks
// in parallel (resuming partial downloads), then register the image. Nothing becomes visible in
// the store before every blob is verified.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "stage0/registry/reference.h"
#include "stage0/store/image_store.h"

namespace rkt::registry {

struct FetchOptions {
    bool insecure_image = false;  // skip signature verification
    bool insecure_http = false;   // allow plain http
    bool insecure_tls = false;    // accept any certificate
    // Config dirs, lowest precedence first: system, local, user. auth.d/ is read from each;
    // trusted keys from the system and local ones.
    std::filesystem::path system_config;
    std::filesystem::path local_config;
    std::filesystem::path user_config;  // may be empty
    size_t parallel_downloads = 4;
    bool show_progress = false;  // bars on stderr (a terminal)
};

// The repository's name in the store and the tag bound to it: "latest" and the like for tag
// references, "sha256-<hex>" for digest references.
std::string store_tag_for(const ImageReference& ref);

store::ImageInfo fetch_image(store::ImageStore& store, const ImageReference& ref,
                             const FetchOptions& options);

// Signs the manifest `ref` names with `key_pem` and pushes the signature next to it.
// Returns the signed digest.
std::string sign_image(const ImageReference& ref, const std::string& key_pem,
                       const FetchOptions& options);

}  // namespace rkt::registry
