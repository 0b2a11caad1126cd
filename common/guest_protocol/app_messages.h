// What guest-init reports about each app (guest → host): AppStarted, AppOutput, AppExited.
// Each message: its struct, the one validation both sides run, its codec.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/guest_protocol/framing.h"

namespace rkt::guest {

// The largest AppOutput chunk guest-init sends (well below kMaxPayloadLength).
inline constexpr size_t kOutputChunkSize = size_t{32} * 1024;

enum class Stream : uint8_t { kStdout, kStderr };

class Fields;

// "stdout", "stderr" on the wire.
std::string_view stream_name(Stream s);
// The "stream" field of an output message (AppOutput, ExecOutput); anything else fails `f`.
Stream read_stream(Fields& f);

struct AppStarted {
    static constexpr MessageType kType = MessageType::kAppStarted;
    std::string app;
    int32_t pid = 0;  // in the guest
    bool operator==(const AppStarted&) const = default;
};

struct AppOutput {
    static constexpr MessageType kType = MessageType::kAppOutput;
    std::string app;
    Stream stream = Stream::kStdout;
    std::string data;  // raw bytes (the frame's payload), at most kMaxPayloadLength
    bool operator==(const AppOutput&) const = default;
};

struct AppExited {
    static constexpr MessageType kType = MessageType::kAppExited;
    std::string app;
    int exit_code = 0;  // 0..255: status, 128+signal, or 126/127 when it could not execute
    int signal = 0;     // the signal that ended it, 0 if it exited
    std::string error;  // non-empty when it never ran: "could not execute: ..."
    // The OOM killer ended it (its cgroup's memory.events counted an oom_kill; signal is SIGKILL).
    bool oom_killed = false;
    bool operator==(const AppExited&) const = default;
};

// validate(): throws rkt::Error naming the field that breaks the protocol's rules. The encoder
// runs it before writing, the decoder after reading: one rule, checked alike on both sides.
void validate(const AppStarted& m);
void encode_body(const AppStarted& m, Frame& frame);
void decode_body(const Frame& frame, AppStarted& m);

void validate(const AppOutput& m);
void encode_body(const AppOutput& m, Frame& frame);
void decode_body(const Frame& frame, AppOutput& m);

void validate(const AppExited& m);
void encode_body(const AppExited& m, Frame& frame);
void decode_body(const Frame& frame, AppExited& m);

}  // namespace rkt::guest
