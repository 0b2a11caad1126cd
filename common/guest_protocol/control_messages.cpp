#include "common/guest_protocol/control_messages.h"

#include "common/guest_protocol/json_fields.h"
#include "common/guest_protocol/value_rules.h"

namespace rkt::guest {

using nlohmann::json;

namespace {

std::string_view level_name(LogMessage::Level l) {
    switch (l) {
        case LogMessage::Level::kDebug:
            return "debug";
        case LogMessage::Level::kInfo:
            return "info";
        case LogMessage::Level::kWarning:
            return "warning";
        case LogMessage::Level::kError:
            return "error";
    }
    return "info";
}

}  // namespace

// ---- StopPod ----

void validate(const StopPod&) {}

void encode_body(const StopPod& m, Frame& frame) {
    validate(m);
    frame.json = dump_json({{"force", m.force}}, Utf8::kStrict);
}

void decode_body(const Frame& frame, StopPod& m) {
    const json body = parse_body(frame);
    Fields f(body, "StopPod");
    m.force = f.boolean("force");
    f.finish();
    validate(m);
}

// ---- Signal ----

void validate(const SignalApps& m) {
    if (!m.app.empty()) rules::check_app_name("Signal", m.app);
    rules::check_range("Signal", "signal", m.signal, rules::kSignal);
}

void encode_body(const SignalApps& m, Frame& frame) {
    validate(m);
    frame.json = dump_json({{"app", m.app}, {"signal", m.signal}}, Utf8::kStrict);
}

void decode_body(const Frame& frame, SignalApps& m) {
    const json body = parse_body(frame);
    Fields f(body, "Signal");
    m.app = f.string("app");
    m.signal = static_cast<int>(f.integer("signal", rules::kSignal));
    f.finish();
    validate(m);
}

// ---- Ready ----

void validate(const Ready&) {}

void encode_body(const Ready& m, Frame& frame) {
    validate(m);
    frame.json = dump_json({{"monotonic_ns", m.monotonic_ns},
                            {"kernel_release", m.kernel_release},
                            {"protocol_version", kProtocolVersion}},
                           Utf8::kReplace);
}

void decode_body(const Frame& frame, Ready& m) {
    const json body = parse_body(frame);
    Fields f(body, "Ready");
    m.monotonic_ns = f.unsigned64("monotonic_ns");
    m.kernel_release = f.string("kernel_release");
    f.integer("protocol_version", {kProtocolVersion, kProtocolVersion});
    f.finish();
    validate(m);
}

// ---- PodExited ----

void validate(const PodExited& m) {
    rules::check_range("PodExited", "exit_code", m.exit_code, rules::kExitCode);
}

void encode_body(const PodExited& m, Frame& frame) {
    validate(m);
    frame.json = dump_json({{"exit_code", m.exit_code}}, Utf8::kStrict);
}

void decode_body(const Frame& frame, PodExited& m) {
    const json body = parse_body(frame);
    Fields f(body, "PodExited");
    m.exit_code = static_cast<int>(f.integer("exit_code", rules::kExitCode));
    f.finish();
    validate(m);
}

// ---- Log ----

void validate(const LogMessage&) {}

void encode_body(const LogMessage& m, Frame& frame) {
    validate(m);
    frame.json =
        dump_json({{"level", level_name(m.level)}, {"message", m.message}}, Utf8::kReplace);
}

void decode_body(const Frame& frame, LogMessage& m) {
    const json body = parse_body(frame);
    Fields f(body, "Log");
    std::string level = f.string("level");
    if (level == "debug")
        m.level = LogMessage::Level::kDebug;
    else if (level == "info")
        m.level = LogMessage::Level::kInfo;
    else if (level == "warning")
        m.level = LogMessage::Level::kWarning;
    else if (level == "error")
        m.level = LogMessage::Level::kError;
    else
        f.fail("level must be debug, info, warning or error");
    m.message = f.string("message");
    f.finish();
    validate(m);
}

// ---- Error ----

void validate(const ErrorMessage&) {}

void encode_body(const ErrorMessage& m, Frame& frame) {
    validate(m);
    frame.json = dump_json({{"message", m.message}}, Utf8::kReplace);
}

void decode_body(const Frame& frame, ErrorMessage& m) {
    const json body = parse_body(frame);
    Fields f(body, "Error");
    m.message = f.string("message");
    f.finish();
    validate(m);
}

}  // namespace rkt::guest
