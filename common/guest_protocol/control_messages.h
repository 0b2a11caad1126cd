// The pod's control messages: StopPod and Signal (host → guest); Ready, PodExited, Log and Error
// (guest → host). Each message: its struct, the one validation both sides run, its codec.
#pragma once

#include <cstdint>
#include <string>

#include "common/guest_protocol/framing.h"

namespace rkt::guest {

struct StopPod {
    static constexpr MessageType kType = MessageType::kStopPod;
    bool force = false;  // false: SIGTERM, SIGKILL after stop_grace_ms; true: SIGKILL now
    bool operator==(const StopPod&) const = default;
};

struct SignalApps {
    static constexpr MessageType kType = MessageType::kSignal;
    std::string app;  // empty: every running app
    int signal = 0;   // 1..64
    bool operator==(const SignalApps&) const = default;
};

struct Ready {
    static constexpr MessageType kType = MessageType::kReady;
    uint64_t monotonic_ns = 0;   // guest CLOCK_MONOTONIC when guest-init sent it (≈ since boot)
    std::string kernel_release;  // uname -r
    bool operator==(const Ready&) const = default;
};

struct PodExited {
    static constexpr MessageType kType = MessageType::kPodExited;
    int exit_code = 0;  // the first non-zero app exit code (in time), else 0
    bool operator==(const PodExited&) const = default;
};

struct LogMessage {
    static constexpr MessageType kType = MessageType::kLog;
    enum class Level { kDebug, kInfo, kWarning, kError };
    Level level = Level::kInfo;
    std::string message;
    bool operator==(const LogMessage&) const = default;
};

struct ErrorMessage {
    static constexpr MessageType kType = MessageType::kError;
    std::string message;
    bool operator==(const ErrorMessage&) const = default;
};

// validate(): throws rkt::Error naming the field that breaks the protocol's rules. The encoder
// runs it before writing, the decoder after reading: one rule, checked alike on both sides.
// encode_body(): the frame's JSON (and payload); decode_body(): strict, the other way.
void validate(const StopPod& m);
void encode_body(const StopPod& m, Frame& frame);
void decode_body(const Frame& frame, StopPod& m);

void validate(const SignalApps& m);
void encode_body(const SignalApps& m, Frame& frame);
void decode_body(const Frame& frame, SignalApps& m);

void validate(const Ready& m);
void encode_body(const Ready& m, Frame& frame);
void decode_body(const Frame& frame, Ready& m);

void validate(const PodExited& m);
void encode_body(const PodExited& m, Frame& frame);
void decode_body(const Frame& frame, PodExited& m);

void validate(const LogMessage& m);
void encode_body(const LogMessage& m, Frame& frame);
void decode_body(const Frame& frame, LogMessage& m);

void validate(const ErrorMessage& m);
void encode_body(const ErrorMessage& m, Frame& frame);
void decode_body(const Frame& frame, ErrorMessage& m);

}  // namespace rkt::guest
