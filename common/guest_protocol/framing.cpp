#include "common/guest_protocol/framing.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"

namespace rkt::guest {

namespace {

void put_u16(std::string& out, uint16_t v) {
    out.push_back(static_cast<char>(v & 0xff));
    out.push_back(static_cast<char>(v >> 8));
}
void put_u32(std::string& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint16_t get_u16(const char* p) {
    return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) |
                                 (static_cast<uint16_t>(static_cast<uint8_t>(p[1])) << 8));
}
uint32_t get_u32(const char* p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
    return v;
}

}  // namespace

std::string_view message_type_name(MessageType type) {
    switch (type) {
        case MessageType::kPodSpec:
            return "PodSpec";
        case MessageType::kStopPod:
            return "StopPod";
        case MessageType::kSignal:
            return "Signal";
        case MessageType::kReady:
            return "Ready";
        case MessageType::kAppStarted:
            return "AppStarted";
        case MessageType::kAppOutput:
            return "AppOutput";
        case MessageType::kAppExited:
            return "AppExited";
        case MessageType::kPodExited:
            return "PodExited";
        case MessageType::kLog:
            return "Log";
        case MessageType::kError:
            return "Error";
        case MessageType::kExec:
            return "Exec";
        case MessageType::kExecSignal:
            return "ExecSignal";
        case MessageType::kExecStarted:
            return "ExecStarted";
        case MessageType::kExecOutput:
            return "ExecOutput";
        case MessageType::kExecExited:
            return "ExecExited";
    }
    return "unknown";
}

bool is_known_message_type(uint16_t type) {
    return std::any_of(kMessageTypes.begin(), kMessageTypes.end(),
                       [&](MessageType t) { return static_cast<uint16_t>(t) == type; });
}

bool carries_payload(MessageType type) {
    return type == MessageType::kAppOutput || type == MessageType::kExecOutput;
}

std::string serialize_frame(const Frame& frame) {
    if (!is_known_message_type(static_cast<uint16_t>(frame.type)))
        throw Error("cannot send a frame of unknown type " +
                    std::to_string(static_cast<unsigned>(frame.type)));
    if (frame.json.empty() || frame.json.size() > kMaxJsonLength)
        throw Error("a frame's JSON body must be 1.." + std::to_string(kMaxJsonLength) + " bytes");
    if (frame.payload.size() > kMaxPayloadLength)
        throw Error("a frame's payload must be at most " + std::to_string(kMaxPayloadLength) +
                    " bytes");
    std::string out;
    out.reserve(kHeaderSize + frame.json.size() + frame.payload.size());
    out.append(kFrameMagic);
    put_u16(out, kProtocolVersion);
    put_u16(out, static_cast<uint16_t>(frame.type));
    put_u32(out, frame.sequence);
    put_u32(out, static_cast<uint32_t>(frame.json.size()));
    put_u32(out, static_cast<uint32_t>(frame.payload.size()));
    out += frame.json;
    out += frame.payload;
    return out;
}

void FrameParser::fail(const std::string& message) {
    failure_ = "guest protocol: " + message;
    throw Error(*failure_);
}

void FrameParser::feed(std::string_view bytes) {
    if (failure_) throw Error(*failure_);
    // Drop consumed bytes before growing, so the buffer stays about one frame long.
    if (consumed_ > 0 && consumed_ >= buffer_.size() / 2) {
        buffer_.erase(0, consumed_);
        consumed_ = 0;
    }
    buffer_.append(bytes);
}

std::optional<Frame> FrameParser::next() {
    if (failure_) throw Error(*failure_);
    std::string_view rest = std::string_view(buffer_).substr(consumed_);
    if (rest.size() < kHeaderSize) {
        // Check the magic as soon as it is there: garbage is reported without waiting.
        size_t n = std::min(rest.size(), kFrameMagic.size());
        if (rest.substr(0, n) != kFrameMagic.substr(0, n))
            fail("bad frame magic (the stream is not guest protocol or lost its framing)");
        return std::nullopt;
    }
    const char* h = rest.data();
    if (rest.substr(0, kFrameMagic.size()) != kFrameMagic)
        fail("bad frame magic (the stream is not guest protocol or lost its framing)");
    uint16_t version = get_u16(h + 4);
    if (version != kProtocolVersion)
        fail("unsupported protocol version " + std::to_string(version) + " (this side speaks " +
             std::to_string(kProtocolVersion) + "; host and guest come from different builds)");
    uint16_t type = get_u16(h + 6);
    if (!is_known_message_type(type)) fail("unknown message type " + std::to_string(type));
    uint32_t sequence = get_u32(h + 8);
    uint32_t json_length = get_u32(h + 12);
    uint32_t payload_length = get_u32(h + 16);
    if (json_length == 0 || json_length > kMaxJsonLength)
        fail("frame JSON length " + std::to_string(json_length) + " is outside 1.." +
             std::to_string(kMaxJsonLength));
    if (payload_length > kMaxPayloadLength)
        fail("frame payload length " + std::to_string(payload_length) + " is above " +
             std::to_string(kMaxPayloadLength));
    if (sequence != expected_sequence_)
        fail("frame " + std::to_string(sequence) + " arrived where " +
             std::to_string(expected_sequence_) + " was expected (frames were lost or replayed)");
    size_t total = kHeaderSize + json_length + payload_length;
    if (rest.size() < total) return std::nullopt;
    Frame frame;
    frame.type = static_cast<MessageType>(type);
    frame.sequence = sequence;
    frame.json.assign(h + kHeaderSize, json_length);
    frame.payload.assign(h + kHeaderSize + json_length, payload_length);
    consumed_ += total;
    if (consumed_ == buffer_.size()) {
        buffer_.clear();
        consumed_ = 0;
    }
    ++expected_sequence_;
    return frame;
}

}  // namespace rkt::guest
