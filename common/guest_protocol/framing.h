// The guest protocol's framing: the 20-byte header, the message type numbers and the limits, and
// the splitting of a byte stream into frames. No JSON here: a frame's body is opaque text.
//
//   magic "RKTG" | version u16 | type u16 | sequence u32 | json_length u32 | payload_length u32
// (little-endian), then the JSON text and the payload. docs/guest-protocol.md has the rules.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rkt::guest {

// 2: Exec, ExecSignal, ExecStarted, ExecOutput and ExecExited (rkt enter).
// 3: an empty volume's mode, uid and gid.
// 4: an app's limits (its cgroup in the guest) and AppExited's oom_killed.
// 5: the pod's network interfaces (addresses, routes) and the DNS domain.
inline constexpr uint16_t kProtocolVersion = 6;
inline constexpr std::string_view kFrameMagic = "RKTG";
inline constexpr size_t kHeaderSize = 20;
inline constexpr size_t kMaxJsonLength = size_t{1024} * 1024;
inline constexpr size_t kMaxPayloadLength = size_t{64} * 1024;

enum class MessageType : uint16_t {
    // host → guest
    kPodSpec = 0x0001,
    kStopPod = 0x0002,
    kSignal = 0x0003,
    kExec = 0x0004,
    // 0x0005 reserved: AppInput (stdin)
    kExecSignal = 0x0006,
    // guest → host
    kReady = 0x0101,
    kAppStarted = 0x0102,
    kAppOutput = 0x0103,
    kAppExited = 0x0104,
    kPodExited = 0x0105,
    kLog = 0x0106,
    kError = 0x0107,
    kExecStarted = 0x0108,
    kExecOutput = 0x0109,
    kExecExited = 0x010A,
};

// Every message type, in number order: what a reader accepts in a header.
inline constexpr std::array kMessageTypes = {
    MessageType::kPodSpec,     MessageType::kStopPod,    MessageType::kSignal,
    MessageType::kExec,        MessageType::kExecSignal, MessageType::kReady,
    MessageType::kAppStarted,  MessageType::kAppOutput,  MessageType::kAppExited,
    MessageType::kPodExited,   MessageType::kLog,        MessageType::kError,
    MessageType::kExecStarted, MessageType::kExecOutput, MessageType::kExecExited,
};

// "PodSpec", "AppExited", ...; "unknown" for a value outside the enum.
std::string_view message_type_name(MessageType type);
bool is_known_message_type(uint16_t type);
// Only the output messages carry a binary payload.
bool carries_payload(MessageType type);

// One frame as it travels: the header's type and sequence, the JSON text and the payload.
struct Frame {
    MessageType type = MessageType::kLog;
    uint32_t sequence = 0;
    std::string json;
    std::string payload;  // AppOutput and ExecOutput only
};

// The bytes of a frame: header + JSON + payload. Throws rkt::Error when over the limits.
std::string serialize_frame(const Frame& frame);

// Splits a byte stream into frames, whatever the chunking. The first malformed header (bad magic,
// unknown version or type, oversized length, out-of-sequence number) throws rkt::Error, and every
// later call throws the same error: a stream that lost its framing cannot be trusted again.
class FrameParser {
public:
    void feed(std::string_view bytes);
    // The next complete frame, or nullopt when more bytes are needed.
    std::optional<Frame> next();
    size_t buffered() const { return buffer_.size() - consumed_; }

private:
    [[noreturn]] void fail(const std::string& message);
    std::string buffer_;
    size_t consumed_ = 0;
    uint32_t expected_sequence_ = 1;
    std::optional<std::string> failure_;
};

}  // namespace rkt::guest
