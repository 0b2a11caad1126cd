#include "stage0/registry/reference.h"

#include "common/digest.h"
#include "common/error.h"

namespace rkt::registry {

namespace {

constexpr std::string_view kDockerHub = "docker.io";

bool is_alnum_lower(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool is_valid_component(std::string_view c) {
    if (c.empty() || !is_alnum_lower(c.front()) || !is_alnum_lower(c.back())) return false;
    size_t i = 0;
    while (i < c.size()) {
        if (is_alnum_lower(c[i])) {
            ++i;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        size_t start = i;
        if (c[i] == '.') {
            ++i;
        } else if (c[i] == '_') {
            ++i;
            if (i < c.size() && c[i] == '_') ++i;
        } else if (c[i] == '-') {
            while (i < c.size() && c[i] == '-') ++i;
        } else {
            return false;
        }
        if (i == start || i >= c.size() || !is_alnum_lower(c[i])) return false;
    }
    return true;
}

bool is_valid_host(std::string_view host) {
    // host[:port]; host is a DNS name, an IPv4 address or a bracketed IPv6 address.
    if (host.empty() || host.size() > 255) return false;
    std::string_view name = host;
    if (host.front() == '[') {
        auto close = host.find(']');
        if (close == std::string_view::npos) return false;
        for (char c : host.substr(1, close - 1))
            if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
        std::string_view rest = host.substr(close + 1);
        if (rest.empty()) return true;
        if (rest.front() != ':') return false;
        name = "x";
        host = rest;
    }
    auto colon = host.rfind(':');
    if (colon != std::string_view::npos) {
        std::string_view port = host.substr(colon + 1);
        if (port.empty() || port.size() > 5) return false;
        for (char c : port)
            if (c < '0' || c > '9') return false;
        if (std::stoul(std::string(port)) > 65535) return false;
        if (name.front() != '[') name = host.substr(0, colon);
    }
    if (name.empty()) return false;
    for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
    return name.front() != '-' && name.back() != '-';
}

}  // namespace

bool is_valid_repository(std::string_view repo) {
    if (repo.empty() || repo.size() > 255) return false;
    size_t start = 0;
    while (true) {
        auto slash = repo.find('/', start);
        std::string_view comp = repo.substr(
            start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (!is_valid_component(comp)) return false;
        if (slash == std::string_view::npos) return true;
        start = slash + 1;
    }
}

bool is_valid_tag(std::string_view tag) {
    // [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
    if (tag.empty() || tag.size() > 128) return false;
    auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    if (!word(tag.front())) return false;
    for (char c : tag)
        if (!word(c) && c != '.' && c != '-') return false;
    return true;
}

std::string ImageReference::api_host() const {
    return registry == kDockerHub ? std::string("registry-1.docker.io") : registry;
}

std::string ImageReference::to_string() const {
    return name() + (digest.empty() ? ":" + tag : "@" + digest);
}

ImageReference parse_reference(std::string_view text) {
    const std::string shown(text);
    auto fail = [&](const std::string& why) -> Error {
        return Error("invalid image reference \"" + shown + "\": " + why);
    };
    if (text.empty()) throw fail("it is empty");
    if (text.size() > 1024) throw fail("it is longer than 1024 characters");

    ImageReference ref;
    std::string_view rest = text;
    if (auto at = rest.find('@'); at != std::string_view::npos) {
        ref.digest = std::string(rest.substr(at + 1));
        rest = rest.substr(0, at);
        if (ref.digest.rfind("sha256:", 0) != 0)
            throw fail("only sha256 digests are supported (sha256:<64 hex digits>)");
        if (!is_valid_sha256_digest(ref.digest))
            throw fail("the digest must be sha256: followed by 64 lower-case hex digits");
    }
    // The registry is the first component when it looks like a host.
    auto slash = rest.find('/');
    std::string_view first = rest.substr(0, slash);
    bool has_host =
        slash != std::string_view::npos &&
        (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
         first == "localhost" || first.starts_with('['));
    if (has_host) {
        ref.registry = std::string(first);
        rest = rest.substr(slash + 1);
        if (!is_valid_host(ref.registry))
            throw fail("\"" + ref.registry + "\" is not a valid host[:port]");
    } else {
        ref.registry = std::string(kDockerHub);
    }
    // A tag follows the last colon after the last slash.
    auto last_slash = rest.rfind('/');
    auto colon = rest.rfind(':');
    if (colon != std::string_view::npos &&
        (last_slash == std::string_view::npos || colon > last_slash)) {
        ref.tag = std::string(rest.substr(colon + 1));
        rest = rest.substr(0, colon);
        if (!is_valid_tag(ref.tag))
            throw fail("tag \"" + ref.tag + "\" is not valid ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})");
    }
    ref.repository = std::string(rest);
    if (ref.registry == kDockerHub && ref.repository.find('/') == std::string::npos)
        ref.repository = "library/" + ref.repository;
    if (!is_valid_repository(ref.repository))
        throw fail("repository \"" + ref.repository +
                   "\" is not valid (lower-case letters, digits and . _ - separators)");
    if (!ref.digest.empty() && !ref.tag.empty()) ref.tag.clear();  // the digest decides
    if (ref.digest.empty() && ref.tag.empty()) ref.tag = "latest";
    return ref;
}

ImageReference parse_docker_url(std::string_view url) {
    constexpr std::string_view kScheme = "docker://";
    if (url.substr(0, kScheme.size()) != kScheme)
        throw Error("invalid image reference \"" + std::string(url) + "\": expected docker://");
    return parse_reference(url.substr(kScheme.size()));
}

}  // namespace rkt::registry
