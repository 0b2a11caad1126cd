#include "common/id_shift.h"

#include <limits>

#include "common/error.h"
#include "common/strings.h"

namespace rkt {

IdShift IdShift::parse(const std::string& text) {
    auto colon = text.find(':');
    std::string shift = text.substr(0, colon);
    std::string count = colon == std::string::npos ? "" : text.substr(colon + 1);
    if (colon == std::string::npos || !strings::is_decimal(shift) || !strings::is_decimal(count) ||
        shift.size() > 10 || count.size() > 10)
        throw Error("bad user namespace range \"" + text + "\": expected SHIFT:COUNT");
    uint64_t s = std::stoull(shift), c = std::stoull(count);
    // (uid_t)-1 is not an id: the last host id of the range must stay below it.
    if (s == 0 || c == 0 || s + c > std::numeric_limits<uint32_t>::max())
        throw Error("bad user namespace range \"" + text +
                    "\": SHIFT and COUNT must be positive and SHIFT+COUNT below 4294967295");
    return {static_cast<uint32_t>(s), static_cast<uint32_t>(c)};
}

std::string IdShift::to_string() const {
    return std::to_string(shift) + ":" + std::to_string(count);
}

uint32_t IdShift::to_host(uint64_t id) const {
    if (!contains(id))
        throw Error("id " + std::to_string(id) + " is outside the pod's user namespace range 0-" +
                    std::to_string(count - 1));
    return static_cast<uint32_t>(shift + id);
}

}  // namespace rkt
