// Turns an image argument of `rkt run`/`fetch` into an image in the store: an OCI layout
// directory or `oci:PATH[:TAG]`, an OCI or `docker save` archive, `docker://` (registry), or a
// name / id already in the store.
#pragma once

#include <string>

#include "stage0/context.h"
#include "stage0/registry/fetcher.h"

namespace rkt {

enum class PullPolicy { kNever, kNew, kUpdate };
PullPolicy parse_pull_policy(const std::string& s);

struct ImageRequest {
    std::string ref;
    PullPolicy pull_policy = PullPolicy::kNew;
    std::string signature;  // --signature
};

// Imports or finds the image; verifies its signature unless --insecure-options=image.
store::ImageInfo obtain_image(Context& ctx, const ImageRequest& req);

// The registry client's options from the global flags (--insecure-options, config dirs).
registry::FetchOptions registry_options(Context& ctx);

}  // namespace rkt
