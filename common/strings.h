// String helpers and the small value parsers shared by the command line and the stages.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rkt::strings {

std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string trim(std::string_view s);
bool is_decimal(std::string_view s);
std::string to_lower(std::string_view s);
// "0x3f8": lower-case hexadecimal with the prefix, as addresses appear in messages.
std::string hex(uint64_t value);
// Bytes as lower-case hexadecimal without a prefix (digests, PCR values), and back: nullopt for
// an odd length or a character that is not a hex digit.
std::string to_hex(const void* data, size_t size);
inline std::string to_hex(std::string_view bytes) {
    return to_hex(bytes.data(), bytes.size());
}
std::optional<std::vector<uint8_t>> from_hex(std::string_view hex);

// Go-style durations as rkt's flags take them: "30m", "24h", "1h30m", "100ms", "0", "5s".
std::optional<std::chrono::milliseconds> parse_duration(std::string_view s);
std::string format_duration(std::chrono::milliseconds d);  // e.g. "30m0s", as Go prints it
// Kubernetes quantities: "50M", "16Mi", "1G", "1024". Returns bytes.
std::optional<uint64_t> parse_memory_quantity(std::string_view s);
// Kubernetes CPU quantities: "500m", "2", "1.5". Returns millicores.
std::optional<uint64_t> parse_cpu_quantity(std::string_view s);
// "1.2 MB"-style sizes for listings (SI, as rkt printed them).
std::string human_size(uint64_t bytes);
// "2 minutes ago"-style for listings.
std::string human_age(std::chrono::system_clock::time_point t,
                      std::chrono::system_clock::time_point now);
// rkt's time layout: "2006-01-02 15:04:05.999 -0700 MST".
std::string format_time(std::chrono::system_clock::time_point t);

// appc ACName: lower-case alphanumerics and dashes, starting and ending alphanumeric.
bool is_valid_acname(std::string_view s);
// A host name as the pod may be given one (RFC 1123): dot-separated labels of 1-63 letters,
// digits and dashes, no label starting or ending with a dash, 64 characters in all at most.
bool is_valid_hostname(std::string_view s);
// `s` with control characters as '?' and cut at `limit` bytes ("..." appended), for quoting
// hostile input in a one-line message.
std::string printable(std::string_view s, size_t limit = 200);
// An image reference without its tag or digest: "host:5000/x/y:v1@sha256:..." -> "host:5000/x/y"
// (a tag's colon is the last one after the last slash, so a registry port stays).
std::string_view image_repository(std::string_view ref);
// Turns an image name ("registry/library/redis:7") into an app name ("redis").
std::string image_name_to_app_name(std::string_view image_name);

// The deepest nesting of JSON arrays and objects in `text`, counted outside strings: what a
// reader of hostile JSON checks before it parses (the parser recurses per level).
size_t json_nesting_depth(std::string_view text);

}  // namespace rkt::strings
