// The rules that several messages share (app names, argv, signals, exit codes, ids), each
// written once and run by both the encoder and the decoder of every message that has the field.
// A failed rule throws rkt::Error as "<where>: <what>", the same words on both sides.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rkt::guest::rules {

// An inclusive range of an integer field.
struct Range {
    int64_t min;
    int64_t max;
};

inline constexpr int64_t kMaxSignal = 64;
inline constexpr Range kSignal{1, kMaxSignal};
inline constexpr Range kExitCode{0, 255};
inline constexpr Range kPid{1, INT32_MAX};
inline constexpr Range kExecId{1, INT32_MAX};

[[noreturn]] void invalid(const std::string& where, const std::string& what);

// "<where>: "<key>" is <value>, expected <min>..<max>" when `value` is outside `range`.
void check_range(const std::string& where, const std::string& key, int64_t value, Range range);

bool has_nul(std::string_view s);
// Printable ASCII without spaces: what may go into one token of /etc/hosts or resolv.conf.
bool is_token(std::string_view s);

// An "app" field: an ACName.
void check_app_name(const std::string& where, const std::string& name);
// A command line: a program first, no NUL byte anywhere.
void check_exec_argv(const std::string& where, const std::vector<std::string>& argv);
// A binary payload fits one frame.
void check_payload_size(const std::string& where, size_t size);

}  // namespace rkt::guest::rules
