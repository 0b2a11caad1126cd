// Commands run in a running app's context (rkt enter): Exec and ExecSignal (host → guest);
// ExecStarted, ExecOutput and ExecExited (guest → host). Each message: its struct, the one
// validation both sides run, its codec.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/guest_protocol/app_messages.h"
#include "common/guest_protocol/framing.h"

namespace rkt::guest {

// Commands run with Exec (rkt enter) at the same time, at most.
inline constexpr size_t kMaxExecs = 16;

// Runs a command in a running app's context (rkt enter): its mount namespace, root, environment,
// user, working directory and isolation. `id` names the command in the replies.
struct Exec {
    static constexpr MessageType kType = MessageType::kExec;
    uint32_t id = 0;                // 1..2^31-1, unique among the commands still running
    std::string app;                // the app whose context the command gets
    std::vector<std::string> exec;  // argv; exec[0] absolute, or looked up in the app's PATH
    bool operator==(const Exec&) const = default;
};

// A signal to a command started with Exec (its process group).
struct ExecSignal {
    static constexpr MessageType kType = MessageType::kExecSignal;
    uint32_t id = 0;
    int signal = 0;  // 1..64
    bool operator==(const ExecSignal&) const = default;
};

// The Exec command `id` was executed.
struct ExecStarted {
    static constexpr MessageType kType = MessageType::kExecStarted;
    uint32_t id = 0;
    int32_t pid = 0;  // in the guest
    bool operator==(const ExecStarted&) const = default;
};

// Output of the Exec command `id` (the frame's payload).
struct ExecOutput {
    static constexpr MessageType kType = MessageType::kExecOutput;
    uint32_t id = 0;
    Stream stream = Stream::kStdout;
    std::string data;
    bool operator==(const ExecOutput&) const = default;
};

// The Exec command `id` ended, or never ran (`error` says why, as AppExited's does).
struct ExecExited {
    static constexpr MessageType kType = MessageType::kExecExited;
    uint32_t id = 0;
    int exit_code = 0;
    int signal = 0;
    std::string error;
    bool operator==(const ExecExited&) const = default;
};

// validate(): throws rkt::Error naming the field that breaks the protocol's rules. The encoder
// runs it before writing, the decoder after reading: one rule, checked alike on both sides.
void validate(const Exec& m);
void encode_body(const Exec& m, Frame& frame);
void decode_body(const Frame& frame, Exec& m);

void validate(const ExecSignal& m);
void encode_body(const ExecSignal& m, Frame& frame);
void decode_body(const Frame& frame, ExecSignal& m);

void validate(const ExecStarted& m);
void encode_body(const ExecStarted& m, Frame& frame);
void decode_body(const Frame& frame, ExecStarted& m);

void validate(const ExecOutput& m);
void encode_body(const ExecOutput& m, Frame& frame);
void decode_body(const Frame& frame, ExecOutput& m);

void validate(const ExecExited& m);
void encode_body(const ExecExited& m, Frame& frame);
void decode_body(const Frame& frame, ExecExited& m);

}  // namespace rkt::guest
