// Prints the guest protocol as this build speaks it, as one JSON object: the header's constants,
// every message type's name and number, and sample frames with their exact bytes. The Python
// copy of the protocol (tests/guest/guest_vm.py) is checked against it
// (tests/guest/check_protocol_copy.py), so the two cannot drift apart.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "common/guest_protocol.h"
#include "common/main_wrapper.h"
#include "common/strings.h"

namespace {

using nlohmann::json;
using namespace rkt::guest;

std::string hex(const std::string& bytes) {
    return rkt::strings::to_hex(bytes);
}

json describe() {
    json types = json::object();
    for (MessageType t : kMessageTypes)
        types[std::string(message_type_name(t))] = static_cast<unsigned>(t);
    // One stream of frames as a FrameWriter numbers them: a payload, optional fields, both ways.
    const Message samples[] = {
        StopPod{true},
        SignalApps{"web", 15},
        Ready{123456789, "6.1.0-rkt"},
        AppStarted{"web", 42},
        AppOutput{"web", Stream::kStderr, std::string("out\0put\xff", 8)},
        AppExited{"web", 137, 9, "", true},
        PodExited{3},
        ExecExited{7, 126, 0, "could not start: app web is not running"},
    };
    FrameWriter writer;
    json frames = json::array();
    for (const Message& m : samples) {
        Frame frame = to_frame(m);
        frames.push_back({{"type", message_type_name(frame.type)},
                          {"body", json::parse(frame.json)},
                          {"payload_hex", hex(frame.payload)},
                          {"bytes_hex", hex(writer.encode(m))}});
    }
    return {{"version", kProtocolVersion},
            {"magic", kFrameMagic},
            {"header_size", kHeaderSize},
            {"max_json_length", kMaxJsonLength},
            {"max_payload_length", kMaxPayloadLength},
            {"port_name", kPortName},
            {"types", types},
            {"frames", frames}};
}

}  // namespace

int main() {
    return rkt::run_main("guest_protocol_dump", [] {
        std::string out = describe().dump(2) + "\n";
        return std::fputs(out.c_str(), stdout) < 0 ? 1 : 0;
    });
}
