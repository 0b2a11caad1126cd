#include "common/guest_protocol/exec_messages.h"

#include "common/guest_protocol/json_fields.h"
#include "common/guest_protocol/value_rules.h"

namespace rkt::guest {

using nlohmann::json;

namespace {

void check_id(const std::string& where, uint32_t id) {
    rules::check_range(where, "id", id, rules::kExecId);
}

uint32_t read_id(Fields& f) {
    return static_cast<uint32_t>(f.integer("id", rules::kExecId));
}

}  // namespace

// ---- Exec ----

void validate(const Exec& m) {
    check_id("Exec", m.id);
    rules::check_app_name("Exec", m.app);
    rules::check_exec_argv("Exec", m.exec);
}

void encode_body(const Exec& m, Frame& frame) {
    validate(m);
    frame.json = dump_json({{"id", m.id}, {"app", m.app}, {"exec", m.exec}}, Utf8::kStrict);
}

void decode_body(const Frame& frame, Exec& m) {
    const json body = parse_body(frame);
    Fields f(body, "Exec");
    m.id = read_id(f);
    m.app = f.string("app");
    m.exec = f.strings("exec");
    f.finish();
    validate(m);
}

// ---- ExecSignal ----

void validate(const ExecSignal& m) {
    check_id("ExecSignal", m.id);
    rules::check_range("ExecSignal", "signal", m.signal, rules::kSignal);
}

void encode_body(const ExecSignal& m, Frame& frame) {
    validate(m);
    frame.json = dump_json({{"id", m.id}, {"signal", m.signal}}, Utf8::kStrict);
}

void decode_body(const Frame& frame, ExecSignal& m) {
    const json body = parse_body(frame);
    Fields f(body, "ExecSignal");
    m.id = read_id(f);
    m.signal = static_cast<int>(f.integer("signal", rules::kSignal));
    f.finish();
    validate(m);
}

// ---- ExecStarted ----

void validate(const ExecStarted& m) {
    check_id("ExecStarted", m.id);
    rules::check_range("ExecStarted", "pid", m.pid, rules::kPid);
}

void encode_body(const ExecStarted& m, Frame& frame) {
    validate(m);
    frame.json = dump_json({{"id", m.id}, {"pid", m.pid}}, Utf8::kStrict);
}

void decode_body(const Frame& frame, ExecStarted& m) {
    const json body = parse_body(frame);
    Fields f(body, "ExecStarted");
    m.id = read_id(f);
    m.pid = static_cast<int32_t>(f.integer("pid", rules::kPid));
    f.finish();
    validate(m);
}

// ---- ExecOutput ----

void validate(const ExecOutput& m) {
    check_id("ExecOutput", m.id);
    rules::check_payload_size("ExecOutput", m.data.size());
}

void encode_body(const ExecOutput& m, Frame& frame) {
    validate(m);
    frame.json = dump_json({{"id", m.id}, {"stream", stream_name(m.stream)}}, Utf8::kStrict);
    frame.payload = m.data;
}

void decode_body(const Frame& frame, ExecOutput& m) {
    const json body = parse_body(frame);
    Fields f(body, "ExecOutput");
    m.id = read_id(f);
    m.stream = read_stream(f);
    f.finish();
    m.data = frame.payload;
    validate(m);
}

// ---- ExecExited ----

void validate(const ExecExited& m) {
    check_id("ExecExited", m.id);
    rules::check_range("ExecExited", "exit_code", m.exit_code, rules::kExitCode);
    // 0: it exited (no "signal" on the wire).
    if (m.signal != 0) rules::check_range("ExecExited", "signal", m.signal, rules::kSignal);
}

void encode_body(const ExecExited& m, Frame& frame) {
    validate(m);
    json j = {{"id", m.id}, {"exit_code", m.exit_code}};
    if (m.signal != 0) j["signal"] = m.signal;
    if (!m.error.empty()) j["error"] = m.error;
    frame.json = dump_json(j, Utf8::kReplace);
}

void decode_body(const Frame& frame, ExecExited& m) {
    const json body = parse_body(frame);
    Fields f(body, "ExecExited");
    m.id = read_id(f);
    m.exit_code = static_cast<int>(f.integer("exit_code", rules::kExitCode));
    // Absent when it exited: an explicit signal names one.
    m.signal = static_cast<int>(f.integer_or("signal", rules::kSignal, 0));
    m.error = f.string_or("error", "");
    f.finish();
    validate(m);
}

}  // namespace rkt::guest
