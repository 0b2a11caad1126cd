// Fuzz target for the guest protocol: the stream reader (any chunking) and the message decoder,
// the code both the host and guest-init run on what the other side sends.
//
// Input: byte 0 selects the mode, the rest is the data.
//   bit 7 set:   a byte stream, fed to a FrameReader in chunks of (byte0 & 0x7f) + 1 bytes;
//                every frame it yields is decoded.
//   bit 7 clear: one frame body of message type kTypes[byte0 % kTypes.size()], decoded.
// Every message that decodes must encode again and decode to an equal message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/error.h"
#include "common/guest_protocol.h"

namespace {

using rkt::guest::MessageType;

constexpr MessageType kTypes[] = {
    MessageType::kPodSpec,     MessageType::kStopPod,    MessageType::kSignal,
    MessageType::kReady,       MessageType::kAppStarted, MessageType::kAppOutput,
    MessageType::kAppExited,   MessageType::kPodExited,  MessageType::kLog,
    MessageType::kError,       MessageType::kExec,       MessageType::kExecSignal,
    MessageType::kExecStarted, MessageType::kExecOutput, MessageType::kExecExited,
};

void check_round_trip(const rkt::guest::Message& message) {
    rkt::guest::Frame again = rkt::guest::to_frame(message);
    if (!(rkt::guest::decode_message(again) == message)) std::abort();
}

void decode_and_check(const rkt::guest::Frame& frame) {
    try {
        check_round_trip(rkt::guest::decode_message(frame));
    } catch (const rkt::Error&) {
        // Rejected input is the expected outcome for most of it.
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] & 0x80) {
        size_t chunk = (data[0] & 0x7f) + 1u;
        rkt::guest::FrameReader reader;
        try {
            for (size_t off = 0; off < rest.size(); off += chunk) {
                reader.feed(rest.substr(off, chunk));
                while (auto frame = reader.next()) decode_and_check(*frame);
            }
        } catch (const rkt::Error&) {
            // Garbage in the stream: the reader refuses it and stays refused.
            try {
                reader.next();
                std::abort();
            } catch (const rkt::Error&) {
            }
        }
        return 0;
    }
    rkt::guest::Frame frame;
    frame.type = kTypes[data[0] % (sizeof kTypes / sizeof kTypes[0])];
    frame.sequence = 1;
    frame.json = std::string(rest);
    decode_and_check(frame);
    return 0;
}
