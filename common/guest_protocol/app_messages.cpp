#include "common/guest_protocol/app_messages.h"

#include <signal.h>

#include "common/guest_protocol/json_fields.h"
#include "common/guest_protocol/value_rules.h"

namespace rkt::guest {

using nlohmann::json;

std::string_view stream_name(Stream s) {
    return s == Stream::kStdout ? "stdout" : "stderr";
}

Stream read_stream(Fields& f) {
    std::string name = f.string("stream");
    if (name == "stdout") return Stream::kStdout;
    if (name != "stderr") f.fail("stream must be \"stdout\" or \"stderr\"");
    return Stream::kStderr;
}

// ---- AppStarted ----

void validate(const AppStarted& m) {
    rules::check_app_name("AppStarted", m.app);
    rules::check_range("AppStarted", "pid", m.pid, rules::kPid);
}

void encode_body(const AppStarted& m, Frame& frame) {
    validate(m);
    frame.json = dump_json({{"app", m.app}, {"pid", m.pid}}, Utf8::kStrict);
}

void decode_body(const Frame& frame, AppStarted& m) {
    const json body = parse_body(frame);
    Fields f(body, "AppStarted");
    m.app = f.string("app");
    m.pid = static_cast<int32_t>(f.integer("pid", rules::kPid));
    f.finish();
    validate(m);
}

// ---- AppOutput ----

void validate(const AppOutput& m) {
    rules::check_app_name("AppOutput", m.app);
    rules::check_payload_size("AppOutput", m.data.size());
}

void encode_body(const AppOutput& m, Frame& frame) {
    validate(m);
    frame.json = dump_json({{"app", m.app}, {"stream", stream_name(m.stream)}}, Utf8::kStrict);
    frame.payload = m.data;
}

void decode_body(const Frame& frame, AppOutput& m) {
    const json body = parse_body(frame);
    Fields f(body, "AppOutput");
    m.app = f.string("app");
    m.stream = read_stream(f);
    f.finish();
    m.data = frame.payload;
    validate(m);
}

// ---- AppExited ----

void validate(const AppExited& m) {
    rules::check_app_name("AppExited", m.app);
    rules::check_range("AppExited", "exit_code", m.exit_code, rules::kExitCode);
    // 0: it exited (no "signal" on the wire).
    if (m.signal != 0) rules::check_range("AppExited", "signal", m.signal, rules::kSignal);
    // The OOM killer ends a process with SIGKILL; an app that never ran was not killed at all.
    if (m.oom_killed && (m.signal != SIGKILL || m.exit_code != 128 + SIGKILL || !m.error.empty()))
        rules::invalid("AppExited",
                       "\"oom_killed\" is only for an app ended by SIGKILL (exit_code 137)");
}

void encode_body(const AppExited& m, Frame& frame) {
    validate(m);
    json j = {{"app", m.app}, {"exit_code", m.exit_code}};
    if (m.signal != 0) j["signal"] = m.signal;
    if (!m.error.empty()) j["error"] = m.error;
    if (m.oom_killed) j["oom_killed"] = true;
    frame.json = dump_json(j, Utf8::kReplace);
}

void decode_body(const Frame& frame, AppExited& m) {
    const json body = parse_body(frame);
    Fields f(body, "AppExited");
    m.app = f.string("app");
    m.exit_code = static_cast<int>(f.integer("exit_code", rules::kExitCode));
    // Absent when it exited: an explicit signal names one.
    m.signal = static_cast<int>(f.integer_or("signal", rules::kSignal, 0));
    m.error = f.string_or("error", "");
    m.oom_killed = f.boolean_or("oom_killed", false);
    f.finish();
    validate(m);
}

}  // namespace rkt::guest
