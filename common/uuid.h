#pragma once

#include <string>
#include <string_view>

namespace rkt {

// A random (version 4) UUID in its canonical 36-character form.
std::string new_uuid();
bool is_valid_uuid(std::string_view s);

}  // namespace rkt
