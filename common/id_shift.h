// The id range of a pod in a user namespace (rkt run --private-users): container uids and gids
// 0..count-1 are host ids shift..shift+count-1. Written "SHIFT:COUNT" in run-options.json
// ("privateUsers") and in stage1 run's --private-users flag (docs/architecture.md).
#pragma once

#include <cstdint>
#include <string>

namespace rkt {

struct IdShift {
    uint32_t shift = 0;
    uint32_t count = 0;

    // Parses "SHIFT:COUNT"; throws an Error saying what is wrong. The range must be non-empty,
    // leave host id 0 alone and end below 2^32-1 (the invalid id).
    static IdShift parse(const std::string& text);
    std::string to_string() const;

    bool contains(uint64_t id) const { return id < count; }
    // The host id of a container id; throws an Error when `id` is outside 0..count-1.
    uint32_t to_host(uint64_t id) const;
    bool operator==(const IdShift&) const = default;
};

}  // namespace rkt
