// `docker://HOST[:PORT]/NAME[:TAG|@DIGEST]` references, checked against the distribution spec's
// grammar before any of it reaches a URL.
#pragma once

#include <string>
#include <string_view>

namespace rkt::registry {

struct ImageReference {
    std::string registry;    // as written ("127.0.0.1:5000", "docker.io")
    std::string repository;  // "x/test", "library/redis"
    std::string tag;         // empty when `digest` is set
    std::string digest;      // "sha256:<hex>" or empty

    // The host the API lives on (Docker Hub's name differs from its API host).
    std::string api_host() const;
    // "registry/repository": the image name recorded in the store and matched against trust
    // prefixes.
    std::string name() const { return registry + "/" + repository; }
    // The tag, or the digest when fetched by digest.
    std::string reference() const { return digest.empty() ? tag : digest; }
    // "registry/repository:tag" or "registry/repository@digest".
    std::string to_string() const;
};

// Parses a reference without its "docker://" scheme. A first component without a dot or colon
// (and not "localhost") is a Docker Hub repository, as Docker reads it. The tag defaults to
// "latest". Throws Error naming what is wrong.
ImageReference parse_reference(std::string_view text);

// Strips "docker://" (required) and parses the rest.
ImageReference parse_docker_url(std::string_view url);

bool is_valid_repository(std::string_view repo);
bool is_valid_tag(std::string_view tag);

}  // namespace rkt::registry
