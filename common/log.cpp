#include "common/log.h"

#include <unistd.h>

#include <string>

namespace rkt::log {
namespace {
std::string g_prefix;
bool g_debug = false;

void emit(std::string_view tag, std::string_view message) {
    std::string line;
    if (!g_prefix.empty()) line.append(g_prefix).append(": ");
    line.append(tag).append(message).push_back('\n');
    // One write per line so lines from concurrent processes do not interleave.
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}
}  // namespace

void set_prefix(std::string prefix) {
    g_prefix = std::move(prefix);
}
void set_debug(bool enabled) {
    g_debug = enabled;
}
bool debug_enabled() {
    return g_debug;
}
void info(std::string_view message) {
    emit("", message);
}
void warn(std::string_view message) {
    emit("warning: ", message);
}
void debug(std::string_view message) {
    if (g_debug) emit("", message);
}

}  // namespace rkt::log
