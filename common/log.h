// Diagnostics on stderr, prefixed with the name of the running command ("run: ...") as rkt did.
#pragma once

#include <string>
#include <string_view>

namespace rkt::log {

// Sets the prefix printed before every line (e.g. "run", "stage1"). Empty means no prefix.
void set_prefix(std::string prefix);
void set_debug(bool enabled);
bool debug_enabled();

void info(std::string_view message);   // always printed
void warn(std::string_view message);   // always printed, "warning: " added
void debug(std::string_view message);  // printed only with --debug

}  // namespace rkt::log
