// mount(2) with the project's error handling.
#pragma once

#include <string>

namespace rkt::guest_init {

// Throws an Error "cannot mount <what>: <strerror>" on failure. Empty source/data mean NULL.
void mount_checked(const std::string& source, const std::string& target, const char* type,
                   unsigned long flags, const std::string& data, const std::string& what);

}  // namespace rkt::guest_init
