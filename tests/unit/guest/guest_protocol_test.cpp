#include "common/guest_protocol.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/unique_fd.h"

namespace rkt::guest {
namespace {

PodSpec sample_pod_spec() {
    PodSpec spec;
    spec.hostname = "rkt-1234";
    GuestApp app;
    app.name = "hello";
    app.exec = {"/bin/echo", "hello", "wörld"};
    app.env = {"PATH=/usr/bin:/bin", "EMPTY="};
    app.user = "1000";
    app.group = "www-data";
    app.supplementary_gids = {10, 20};
    app.working_dir = "/srv";
    app.disk = 1;
    app.disk_serial = "rkt-app-1";
    app.verity = DiskVerity{300, 300, std::string(64, 'c'), std::string(64, '5')};
    app.isolation.capabilities = std::vector<std::string>{"CAP_CHOWN", "CAP_KILL"};
    app.isolation.capabilities_granted_to_non_root = true;
    app.isolation.seccomp =
        SeccompSettings{SeccompSettings::Mode::kRemove, false, {"reboot", "kexec_load"}, {}, 1};
    app.isolation.no_new_privileges = true;
    app.isolation.oom_score_adj = -500;
    app.limits = AppLimits{64u << 20, 500, 20, 100};
    app.mounts = {{"data", "/data", true}};
    spec.apps.push_back(app);
    GuestApp second;
    second.name = "sidecar";
    second.exec = {"sleep", "100"};
    second.isolation.seccomp =
        SeccompSettings{SeccompSettings::Mode::kRetain, false, {"read", "clone"}, {"clone"}, 0};
    second.limits.pids_max = 4096;
    spec.apps.push_back(second);
    spec.volumes = {{"data", VolumeSpec::Kind::k9p, "vol0", false},
                    {"scratch", VolumeSpec::Kind::kEmpty, "", false, 01770, 1000, 1001},
                    {"tmp", VolumeSpec::Kind::kEmpty, "", true}};
    spec.stop_grace_ms = 2500;
    spec.hosts_entries = {{"10.0.0.1", {"db", "db.local"}}};
    spec.dns = DnsConfig{{"10.0.0.2"}, {"example.com"}, {"ndots:2"}, "pod.example.com"};
    spec.interfaces = {{"eth0",
                        "0a:58:ac:10:1c:05",
                        1500,
                        {"172.16.28.5/24", "fd00:28::5/64"},
                        {{"0.0.0.0/0", "172.16.28.1", 0},
                         {"172.16.28.1/32", "", 0},
                         {"fd00::/8", "fd00:28::1", 1024}}},
                       {"net1", "02:00:00:00:00:01", 9000, {"10.1.0.2/16"}, {}}};
    spec.debug = true;
    return spec;
}

std::vector<Message> sample_messages() {
    return {sample_pod_spec(),
            StopPod{true},
            SignalApps{"hello", 15},
            SignalApps{"", 9},
            Ready{123456789, "6.1.0"},
            AppStarted{"hello", 42},
            AppOutput{"hello", Stream::kStderr, std::string("bin\0ary\xff", 8)},
            AppExited{"hello", 3, 0, ""},
            AppExited{"hello", 137, 9, ""},
            AppExited{"hello", 137, 9, "", true},
            AppExited{"hello", 127, 0, "could not execute: /nope: No such file or directory"},
            PodExited{3},
            LogMessage{LogMessage::Level::kWarning, "careful"},
            ErrorMessage{"bad pod spec"},
            Exec{1, "hello", {"/bin/sh", "-c", "echo hi"}},
            ExecSignal{1, 15},
            ExecStarted{1, 77},
            ExecOutput{1, Stream::kStdout, std::string("o\0ut", 4)},
            ExecExited{1, 2, 0, ""},
            ExecExited{2, 137, 9, ""},
            ExecExited{3, 126, 0, "could not start: app hello is not running"}};
}

TEST(GuestProtocol, EveryMessageSurvivesAnyChunking) {
    FrameWriter writer;
    std::string stream;
    auto messages = sample_messages();
    for (const auto& m : messages) stream += writer.encode(m);
    for (size_t chunk :
         {size_t{1}, size_t{3}, size_t{19}, size_t{20}, size_t{21}, size_t{4096}, stream.size()}) {
        FrameReader reader;
        std::vector<Message> got;
        for (size_t off = 0; off < stream.size(); off += chunk) {
            reader.feed(std::string_view(stream).substr(off, chunk));
            while (auto m = reader.next_message()) got.push_back(std::move(*m));
        }
        ASSERT_EQ(got.size(), messages.size()) << "chunk " << chunk;
        for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], messages[i]) << i;
        EXPECT_EQ(reader.buffered(), 0u);
    }
}

TEST(GuestProtocol, HeaderLayoutIsFixed) {
    FrameWriter writer;
    std::string bytes = writer.encode(StopPod{true});
    const std::string json = R"({"force":true})";
    std::string expected("RKTG\x06\x00\x02\x00\x01\x00\x00\x00", 12);
    expected.push_back(static_cast<char>(json.size()));
    expected.append(std::string("\0\0\0\0\0\0\0", 7));
    expected += json;
    EXPECT_EQ(bytes, expected);
    // The second frame carries sequence 2.
    std::string second = writer.encode(StopPod{false});
    EXPECT_EQ(second[8], 2);
}

std::string header(std::string_view magic, uint16_t version, uint16_t type, uint32_t seq,
                   uint32_t json_len, uint32_t payload_len) {
    std::string h(magic);
    auto put16 = [&](uint16_t v) {
        h.push_back(static_cast<char>(v & 0xff));
        h.push_back(static_cast<char>(v >> 8));
    };
    auto put32 = [&](uint32_t v) {
        for (int i = 0; i < 4; ++i) h.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    };
    put16(version);
    put16(type);
    put32(seq);
    put32(json_len);
    put32(payload_len);
    return h;
}

void expect_reader_error(const std::string& bytes, const std::string& needle) {
    FrameReader reader;
    reader.feed(bytes);
    try {
        reader.next();
        FAIL() << "no error for " << needle;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    // A broken stream stays broken.
    EXPECT_THROW(reader.next(), Error);
    EXPECT_THROW(reader.feed("x"), Error);
}

TEST(GuestProtocol, ReaderRejectsGarbage) {
    expect_reader_error("GET / HTTP/1.1\r\n", "bad frame magic");
    expect_reader_error(std::string(40, '\0'), "bad frame magic");
}

TEST(GuestProtocol, ReaderReportsBadMagicBeforeAFullHeader) {
    FrameReader reader;
    reader.feed("RK");
    EXPECT_FALSE(reader.next().has_value());
    reader.feed("X");
    EXPECT_THROW(reader.next(), Error);
}

TEST(GuestProtocol, ReaderRejectsBadHeaders) {
    const uint16_t v = kProtocolVersion;
    expect_reader_error(header("RKTG", 1, 1, 1, 2, 0), "unsupported protocol version 1");
    expect_reader_error(header("RKTG", 2, 1, 1, 2, 0), "unsupported protocol version 2");
    expect_reader_error(header("RKTG", 3, 1, 1, 2, 0), "unsupported protocol version 3");
    expect_reader_error(header("RKTG", 4, 1, 1, 2, 0), "unsupported protocol version 4");
    expect_reader_error(header("RKTG", 5, 1, 1, 2, 0), "unsupported protocol version 5");
    expect_reader_error(header("RKTG", 7, 1, 1, 2, 0), "unsupported protocol version 7");
    expect_reader_error(header("RKTG", v, 0x77, 1, 2, 0), "unknown message type 119");
    expect_reader_error(header("RKTG", v, 5, 1, 2, 0), "unknown message type 5");  // reserved
    expect_reader_error(header("RKTG", v, 0x10b, 1, 2, 0), "unknown message type 267");
    expect_reader_error(header("RKTG", v, 1, 1, 0, 0), "JSON length 0");
    expect_reader_error(header("RKTG", v, 1, 1, kMaxJsonLength + 1, 0), "JSON length");
    expect_reader_error(header("RKTG", v, 0x103, 1, 2, kMaxPayloadLength + 1), "payload length");
    expect_reader_error(header("RKTG", v, 2, 7, 2, 0), "frame 7 arrived where 1 was expected");
}

TEST(GuestProtocol, ReaderRejectsAReplayedFrame) {
    FrameWriter writer;
    std::string first = writer.encode(StopPod{false});
    FrameReader reader;
    reader.feed(first + first);
    EXPECT_TRUE(reader.next().has_value());
    EXPECT_THROW(reader.next(), Error);
}

Message decode_json(MessageType type, const std::string& json, const std::string& payload = "") {
    Frame f;
    f.type = type;
    f.sequence = 1;
    f.json = json;
    f.payload = payload;
    return decode_message(f);
}

void expect_decode_error(MessageType type, const std::string& json, const std::string& needle) {
    try {
        decode_json(type, json);
        FAIL() << "no error for " << json;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
            << "error \"" << e.what() << "\" lacks \"" << needle << "\"";
    }
}

nlohmann::json pod_json() {
    return nlohmann::json::parse(to_frame(sample_pod_spec()).json);
}

TEST(GuestProtocol, DecoderIsStrictAboutTypesAndFields) {
    using K = MessageType;
    expect_decode_error(K::kStopPod, "{}", "missing field \"force\"");
    expect_decode_error(K::kStopPod, R"({"force":1})", "\"force\" must be a boolean");
    expect_decode_error(K::kStopPod, R"({"force":true,"extra":1})", "unknown field \"extra\"");
    expect_decode_error(K::kStopPod, "[]", "must be an object");
    expect_decode_error(K::kStopPod, "{", "not valid JSON");
    expect_decode_error(K::kSignal, R"({"app":"","signal":0})", "expected 1..64");
    expect_decode_error(K::kSignal, R"({"app":"","signal":9.0})", "must be an integer");
    expect_decode_error(K::kSignal, R"({"app":"Bad_Name","signal":9})", "not a valid app name");
    expect_decode_error(K::kAppExited, R"({"app":"a","exit_code":256})", "expected 0..255");
    expect_decode_error(K::kAppExited, R"({"app":"a","exit_code":-1})", "expected 0..255");
    expect_decode_error(K::kAppStarted, R"({"app":"a","pid":18446744073709551615})",
                        "out of range");
    expect_decode_error(K::kLog, R"({"level":"loud","message":"x"})", "level must be");
    expect_decode_error(K::kReady,
                        R"({"monotonic_ns":-5,"kernel_release":"x","protocol_version":2})",
                        "non-negative");
    expect_decode_error(K::kAppOutput, R"({"app":"a","stream":"stdin"})", "stream must be");
    EXPECT_THROW(decode_json(K::kStopPod, R"({"force":true})", "payload"), Error);
}

TEST(GuestProtocol, DecoderIsStrictAboutExecMessages) {
    using K = MessageType;
    expect_decode_error(K::kExec, R"({"id":0,"app":"a","exec":["/x"]})", "expected 1..");
    expect_decode_error(K::kExec, R"({"id":2147483648,"app":"a","exec":["/x"]})", "expected 1..");
    expect_decode_error(K::kExec, R"({"id":1,"app":"../a","exec":["/x"]})", "not a valid app name");
    expect_decode_error(K::kExec, R"({"id":1,"app":"a","exec":[]})", "must name a program");
    expect_decode_error(K::kExec, R"({"id":1,"app":"a","exec":[""]})", "must name a program");
    expect_decode_error(K::kExec, R"({"id":1,"app":"a","exec":["/x\u0000y"]})", "NUL byte");
    expect_decode_error(K::kExec, R"({"id":1,"app":"a","exec":[1]})", "array of strings");
    expect_decode_error(K::kExec, R"({"id":1,"app":"a","exec":["/x"],"env":[]})",
                        "unknown field \"env\"");
    expect_decode_error(K::kExecSignal, R"({"id":1,"signal":65})", "expected 1..64");
    expect_decode_error(K::kExecSignal, R"({"id":1})", "missing field \"signal\"");
    expect_decode_error(K::kExecStarted, R"({"id":1,"pid":0})", "expected 1..");
    expect_decode_error(K::kExecOutput, R"({"id":1,"stream":"stdin"})", "stream must be");
    expect_decode_error(K::kExecExited, R"({"id":1,"exit_code":300})", "expected 0..255");
    expect_decode_error(K::kExecExited, R"({"id":1,"exit_code":1,"signal":0})", "expected 1..64");
    // Only the output messages carry a payload.
    EXPECT_THROW(decode_json(K::kExec, R"({"id":1,"app":"a","exec":["/x"]})", "x"), Error);
    auto out = std::get<ExecOutput>(
        decode_json(K::kExecOutput, R"({"id":4,"stream":"stderr"})", std::string("\0\xff", 2)));
    EXPECT_EQ(out, (ExecOutput{4, Stream::kStderr, std::string("\0\xff", 2)}));
}

TEST(GuestProtocol, EncoderRefusesBadExecMessages) {
    EXPECT_THROW(to_frame(Exec{0, "a", {"/x"}}), Error);
    EXPECT_THROW(to_frame(Exec{1, "A", {"/x"}}), Error);
    EXPECT_THROW(to_frame(Exec{1, "a", {}}), Error);
    EXPECT_THROW(to_frame(Exec{1, "a", {std::string("/x\0", 3)}}), Error);
    EXPECT_THROW(to_frame(ExecSignal{1, 0}), Error);
    EXPECT_THROW(to_frame(ExecStarted{1, 0}), Error);
    EXPECT_THROW(to_frame(ExecExited{1, 256, 0, ""}), Error);
    EXPECT_THROW(to_frame(ExecOutput{1, Stream::kStdout, std::string(kMaxPayloadLength + 1, 'x')}),
                 Error);
}

TEST(GuestProtocol, DecoderChecksThePodSpec) {
    using K = MessageType;
    auto expect_bad = [](const std::function<void(nlohmann::json&)>& edit,
                         const std::string& needle) {
        nlohmann::json j = pod_json();
        edit(j);
        expect_decode_error(K::kPodSpec, j.dump(), needle);
    };
    // The unmodified sample decodes to itself.
    EXPECT_EQ(std::get<PodSpec>(decode_json(K::kPodSpec, pod_json().dump())), sample_pod_spec());

    expect_bad([](auto& j) { j["apps"][0]["user"] = 0; }, "\"user\" must be a string");
    expect_bad([](auto& j) { j["apps"][0]["user"] = "a b"; }, "user must be a number, a name");
    expect_bad([](auto& j) { j["apps"][0]["group"] = ""; }, "group must be a number, a name");
    expect_bad([](auto& j) { j["apps"][0].erase("group"); }, "missing field \"group\"");
    expect_bad([](auto& j) { j["apps"][0]["supplementary_gids"] = {-1}; },
               "expected 0..4294967294");
    expect_bad([](auto& j) { j["apps"][0]["supplementary_gids"] = {1.5}; }, "must be an integer");
    expect_bad([](auto& j) { j["apps"][0]["supplementary_gids"] = {4294967295u}; },
               "expected 0..4294967294");
    expect_bad([](auto& j) { j["apps"][0]["isolation"]["oom_score_adj"] = 1001; },
               "expected -1000..1000");
    expect_bad([](auto& j) { j["apps"][0]["isolation"]["seccomp"].erase("errno"); },
               "missing field \"errno\"");
    expect_bad([](auto& j) { j["apps"][0]["isolation"]["seccomp"]["all"] = "yes"; },
               "must be a boolean");
    expect_bad([](auto& j) { j["apps"][0]["exec"] = nlohmann::json::array(); }, "exec must name");
    expect_bad([](auto& j) { j["apps"][0]["exec"] = {"/bin/sh", 1}; }, "array of strings");
    expect_bad([](auto& j) { j["apps"][0]["exec"][1] = std::string("a\0b", 3); }, "NUL");
    expect_bad([](auto& j) { j["apps"][0]["env"] = {"NOEQUALS"}; }, "is not NAME=value");
    expect_bad([](auto& j) { j["apps"][0]["env"] = {"=x"}; }, "is not NAME=value");
    expect_bad([](auto& j) { j["apps"][0]["working_dir"] = "srv"; }, "absolute path");
    expect_bad([](auto& j) { j["apps"][0]["disk"] = 64; }, "expected 0..63");
    expect_bad([](auto& j) { j["apps"][0]["name"] = "Hello"; }, "ACName");
    expect_bad([](auto& j) { j["apps"][1]["name"] = "hello"; }, "two apps are named hello");
    expect_bad([](auto& j) { j["apps"][0]["mounts"][0]["volume"] = "nope"; }, "unknown volume");
    expect_bad([](auto& j) { j["apps"][0]["mounts"][0]["path"] = "data"; }, "absolute path");
    expect_bad([](auto& j) { j["apps"][0]["isolation"]["capabilities"] = {"chown"}; },
               "not a capability name");
    expect_bad([](auto& j) { j["apps"][0]["isolation"]["seccomp"]["mode"] = "maybe"; },
               "mode must be");
    expect_bad([](auto& j) { j["apps"][0]["isolation"]["seccomp"]["syscalls"] = {"rm -rf"}; },
               "not a system call name");
    expect_bad([](auto& j) { j["apps"][0]["isolation"].erase("masked_paths"); },
               "missing field \"masked_paths\"");
    expect_bad([](auto& j) { j["apps"][0]["colour"] = "blue"; }, "unknown field \"colour\"");
    expect_bad([](auto& j) { j["hostname"] = "bad host"; }, "not a valid host name");
    expect_bad([](auto& j) { j["hostname"] = std::string(65, 'a'); }, "not a valid host name");
    expect_bad([](auto& j) { j["apps"] = nlohmann::json::array(); }, "has no apps");
    expect_bad([](auto& j) { j["volumes"][0]["kind"] = "nfs"; }, "kind must be");
    expect_bad([](auto& j) { j["volumes"][0]["tag"] = "a b"; }, "9p tag");
    expect_bad([](auto& j) { j["volumes"][1]["name"] = "data"; }, "two volumes are named data");
    // An empty volume's mode, uid and gid: a mode of at most 07777, ids that are uid_t values
    // chown(2) does not read as "unchanged".
    expect_bad([](auto& j) { j["volumes"][1]["mode"] = 010000; }, "expected 0..4095");
    expect_bad([](auto& j) { j["volumes"][1]["mode"] = -1; }, "expected 0..4095");
    expect_bad([](auto& j) { j["volumes"][1]["mode"] = "0700"; }, "\"mode\" must be an integer");
    expect_bad([](auto& j) { j["volumes"][1]["mode"] = 448.0; }, "\"mode\" must be an integer");
    expect_bad([](auto& j) { j["volumes"][1]["uid"] = 4294967295u; }, "expected 0..4294967294");
    expect_bad([](auto& j) { j["volumes"][1]["uid"] = -1; }, "expected 0..4294967294");
    expect_bad([](auto& j) { j["volumes"][1]["gid"] = 18446744073709551615u; }, "out of range");
    expect_bad([](auto& j) { j["volumes"][1]["gid"] = true; }, "\"gid\" must be an integer");
    expect_bad([](auto& j) { j["volumes"][1]["gid"] = nullptr; }, "\"gid\" must be an integer");
    // A 9p share keeps the host directory's mode and owner.
    expect_bad([](auto& j) { j["volumes"][0]["mode"] = 0700; }, "unknown field \"mode\"");
    expect_bad([](auto& j) { j["volumes"][0]["uid"] = 0; }, "unknown field \"uid\"");
    expect_bad([](auto& j) { j["dns"]["nameservers"] = {"1.1.1.1\nnameserver 6.6.6.6"}; },
               "not one printable token");
    expect_bad([](auto& j) { j["hosts_entries"][0]["names"] = nlohmann::json::array(); },
               "has no names");
    expect_bad([](auto& j) { j["stop_grace_ms"] = 3600 * 1000 + 1; }, "expected 0..3600000");
    expect_bad(
        [](auto& j) {
            nlohmann::json app = j["apps"][1];
            for (int i = 0; i < 70; ++i) {
                app["name"] = "app" + std::to_string(i);
                j["apps"].push_back(app);
            }
        },
        "more than 64 apps");
}

TEST(GuestProtocol, InterfacesGoOnTheWire) {
    nlohmann::json j = nlohmann::json::parse(to_frame(sample_pod_spec()).json);
    EXPECT_EQ(j["dns"]["domain"], "pod.example.com");
    EXPECT_EQ(j["interfaces"][0], nlohmann::json::parse(R"({"name":"eth0",
        "mac":"0a:58:ac:10:1c:05","mtu":1500,"addresses":["172.16.28.5/24","fd00:28::5/64"],
        "routes":[{"destination":"0.0.0.0/0","gateway":"172.16.28.1","metric":0},
                  {"destination":"172.16.28.1/32","metric":0},
                  {"destination":"fd00::/8","gateway":"fd00:28::1","metric":1024}]})"));
    EXPECT_EQ(std::get<PodSpec>(decode_message(to_frame(sample_pod_spec()))).interfaces,
              sample_pod_spec().interfaces);
    // No domain, no interfaces: "domain" is left out, "interfaces" is an empty list.
    PodSpec plain = sample_pod_spec();
    plain.dns->domain.clear();
    plain.interfaces.clear();
    j = nlohmann::json::parse(to_frame(plain).json);
    EXPECT_FALSE(j["dns"].contains("domain"));
    EXPECT_EQ(j["interfaces"], nlohmann::json::array());
    EXPECT_EQ(std::get<PodSpec>(decode_message(to_frame(plain))), plain);
}

TEST(GuestProtocol, InterfaceFieldsTakeTheirDefaults) {
    nlohmann::json j = pod_json();
    j.erase("interfaces");
    j["dns"].erase("domain");
    auto spec = std::get<PodSpec>(decode_json(MessageType::kPodSpec, j.dump()));
    EXPECT_TRUE(spec.interfaces.empty());
    EXPECT_EQ(spec.dns->domain, "");
    j["interfaces"] = nlohmann::json::parse(R"([{"name":"eth0","mac":"02:00:00:00:00:01",
        "routes":[{"destination":"10.0.0.0/8"}]}])");
    spec = std::get<PodSpec>(decode_json(MessageType::kPodSpec, j.dump()));
    ASSERT_EQ(spec.interfaces.size(), 1u);
    EXPECT_EQ(spec.interfaces[0].mtu, 1500u);
    EXPECT_TRUE(spec.interfaces[0].addresses.empty());
    EXPECT_EQ(spec.interfaces[0].routes.at(0), (RouteSpec{"10.0.0.0/8", "", 0}));
}

TEST(GuestProtocol, DecoderChecksTheInterfaces) {
    auto expect_bad = [](const std::function<void(nlohmann::json&)>& edit,
                         const std::string& needle) {
        nlohmann::json j = pod_json();
        edit(j);
        expect_decode_error(MessageType::kPodSpec, j.dump(), needle);
    };
    // The JSON: types, required and unknown fields.
    expect_bad([](auto& j) { j["interfaces"] = "eth0"; }, "\"interfaces\" must be an array");
    expect_bad([](auto& j) { j["interfaces"][0].erase("mac"); }, "missing field \"mac\"");
    expect_bad([](auto& j) { j["interfaces"][0].erase("name"); }, "missing field \"name\"");
    expect_bad([](auto& j) { j["interfaces"][0]["mtu"] = "1500"; }, "\"mtu\" must be an integer");
    expect_bad([](auto& j) { j["interfaces"][0]["vlan"] = 3; }, "unknown field \"vlan\"");
    expect_bad([](auto& j) { j["interfaces"][0]["routes"][0]["via"] = "x"; },
               "interfaces[0].routes[0]: unknown field \"via\"");
    expect_bad([](auto& j) { j["interfaces"][0]["routes"][0].erase("destination"); },
               "missing field \"destination\"");
    expect_bad([](auto& j) { j["interfaces"][0]["routes"][0]["metric"] = -1; },
               "expected 0..4294967295");
    expect_bad([](auto& j) { j["interfaces"][0]["addresses"] = {1}; }, "array of strings");
    expect_bad([](auto& j) { j["dns"]["domain"] = 1; }, "\"domain\" must be a string");
    // Names.
    expect_bad([](auto& j) { j["interfaces"][0]["name"] = ""; },
               "interfaces[0]: name \"\" must be");
    expect_bad([](auto& j) { j["interfaces"][0]["name"] = "lo"; }, "and not lo");
    expect_bad([](auto& j) { j["interfaces"][0]["name"] = "Eth0"; }, "must be 1..15");
    expect_bad([](auto& j) { j["interfaces"][0]["name"] = "eth0:1"; }, "must be 1..15");
    expect_bad([](auto& j) { j["interfaces"][0]["name"] = "../eth0"; }, "must be 1..15");
    expect_bad([](auto& j) { j["interfaces"][0]["name"] = std::string(16, 'e'); }, "must be 1..15");
    expect_bad([](auto& j) { j["interfaces"][1]["name"] = "eth0"; },
               "two interfaces are named eth0");
    // MACs.
    expect_bad([](auto& j) { j["interfaces"][0]["mac"] = "0A:58:AC:10:1C:05"; },
               "is not a lower-case MAC address");
    expect_bad([](auto& j) { j["interfaces"][0]["mac"] = "0a:58:ac:10:1c"; },
               "is not a lower-case MAC address");
    expect_bad([](auto& j) { j["interfaces"][0]["mac"] = "0a-58-ac-10-1c-05"; },
               "is not a lower-case MAC address");
    expect_bad([](auto& j) { j["interfaces"][0]["mac"] = "0a:58:ac:10:1c:0g"; },
               "is not a lower-case MAC address");
    expect_bad([](auto& j) { j["interfaces"][0]["mac"] = "01:00:5e:00:00:01"; }, "multicast");
    expect_bad([](auto& j) { j["interfaces"][0]["mac"] = "ff:ff:ff:ff:ff:ff"; }, "multicast");
    expect_bad([](auto& j) { j["interfaces"][0]["mac"] = "00:00:00:00:00:00"; }, "all zeros");
    expect_bad([](auto& j) { j["interfaces"][1]["mac"] = "0a:58:ac:10:1c:05"; },
               "two interfaces have mac 0a:58:ac:10:1c:05");
    // MTU.
    expect_bad([](auto& j) { j["interfaces"][0]["mtu"] = 67; }, "expected 68..65535");
    expect_bad([](auto& j) { j["interfaces"][0]["mtu"] = 65536; }, "expected 68..65535");
    // Addresses.
    for (const char* bad : {"172.16.28.5", "172.16.28.5/33", "fd00::5/129", "172.16.28.5/",
                            "172.16.28.5/024", "172.16.28.5/+4", "172.16.28/24", "01.2.3.4/8",
                            "host/24", "fd00::5/64/1", " 10.0.0.1/8", "10.0.0.1/8 "})
        expect_bad([&](auto& j) { j["interfaces"][0]["addresses"] = {bad}; },
                   "is not an IP address with a prefix length");
    expect_bad([](auto& j) { j["interfaces"][0]["addresses"] = {std::string("10.0.0.1\0/8", 11)}; },
               "is not an IP address with a prefix length");
    expect_bad(
        [](auto& j) {
            for (int i = 0; i < 17; ++i)
                j["interfaces"][1]["addresses"].push_back("10.1.0." + std::to_string(i) + "/16");
        },
        "interface net1: more than 16 addresses");
    // Routes.
    expect_bad([](auto& j) { j["interfaces"][0]["routes"][0]["destination"] = "default"; },
               "route destination \"default\" is not a CIDR prefix");
    expect_bad([](auto& j) { j["interfaces"][0]["routes"][0]["destination"] = "0.0.0.0"; },
               "is not a CIDR prefix");
    expect_bad([](auto& j) { j["interfaces"][0]["routes"][0]["gateway"] = "172.16.28.1/32"; },
               "gateway \"172.16.28.1/32\" is not an IP address");
    expect_bad([](auto& j) { j["interfaces"][0]["routes"][0]["gateway"] = "fd00::1"; },
               "route 0.0.0.0/0: gateway fd00::1 is not of the destination's address family");
    expect_bad([](auto& j) { j["interfaces"][0]["routes"][2]["gateway"] = "10.0.0.1"; },
               "is not of the destination's address family");
    expect_bad(
        [](auto& j) {
            for (int i = 0; i < 65; ++i)
                j["interfaces"][1]["routes"].push_back(
                    {{"destination", "10." + std::to_string(i) + ".0.0/16"}});
        },
        "interface net1: more than 64 routes");
    // At most 8 interfaces.
    expect_bad(
        [](auto& j) {
            for (int i = 2; i < 9; ++i) {
                nlohmann::json ifc = j["interfaces"][1];
                ifc["name"] = "net" + std::to_string(i);
                ifc["mac"] = "02:00:00:00:00:0" + std::to_string(i);
                j["interfaces"].push_back(ifc);
            }
        },
        "more than 8 interfaces");
    // The domain.
    expect_bad([](auto& j) { j["dns"]["domain"] = "bad domain"; }, "is not a valid domain name");
    expect_bad([](auto& j) { j["dns"]["domain"] = "a..b"; }, "is not a valid domain name");
    expect_bad([](auto& j) { j["dns"]["domain"] = "x\nnameserver 6.6.6.6"; },
               "is not a valid domain name");
}

TEST(GuestProtocol, EncoderRefusesBadInterfaces) {
    // The same rules, on the struct the host fills in, with the decoder's words.
    auto expect_refused = [](const std::function<void(PodSpec&)>& edit, const std::string& needle) {
        PodSpec spec = sample_pod_spec();
        edit(spec);
        try {
            to_frame(spec);
            FAIL() << "no error for " << needle;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    expect_refused([](auto& s) { s.interfaces[0].name = "lo"; }, "and not lo");
    expect_refused([](auto& s) { s.interfaces[1].name = "eth0"; }, "two interfaces are named");
    expect_refused([](auto& s) { s.interfaces[0].mac = "03:00:00:00:00:01"; }, "multicast");
    expect_refused([](auto& s) { s.interfaces[1].mac = s.interfaces[0].mac; },
                   "two interfaces have");
    expect_refused([](auto& s) { s.interfaces[0].mtu = 0; }, "mtu 0 is outside 68..65535");
    expect_refused([](auto& s) { s.interfaces[0].mtu = 70000; }, "mtu 70000 is outside");
    expect_refused([](auto& s) { s.interfaces[0].addresses.push_back("10.0.0.1"); },
                   "is not an IP address with a prefix length");
    expect_refused([](auto& s) { s.interfaces[0].routes[0].gateway = "gw"; },
                   "is not an IP address");
    expect_refused([](auto& s) { s.interfaces.resize(9); }, "more than 8 interfaces");
    expect_refused([](auto& s) { s.dns->domain = "-bad"; }, "is not a valid domain name");
}

TEST(GuestProtocol, OptionalFieldsTakeTheirDefaults) {
    auto m = decode_json(MessageType::kPodSpec, R"({"hostname":"h","apps":[{"name":"a",
        "exec":["/x"],"user":"0","group":"0","disk":0,
        "isolation":{"masked_paths":true,"no_new_privileges":false},"limits":{}}]})");
    const auto& spec = std::get<PodSpec>(m);
    EXPECT_EQ(spec.stop_grace_ms, kDefaultStopGraceMs);
    EXPECT_EQ(spec.apps[0].working_dir, "/");
    EXPECT_FALSE(spec.apps[0].isolation.capabilities.has_value());
    EXPECT_FALSE(spec.apps[0].isolation.seccomp.has_value());
    EXPECT_FALSE(spec.apps[0].isolation.capabilities_granted_to_non_root);
    EXPECT_FALSE(spec.apps[0].isolation.oom_score_adj.has_value());
    EXPECT_FALSE(spec.dns.has_value());
    EXPECT_EQ(spec.apps[0].limits, AppLimits{});  // no limit of its own

    auto v = decode_json(MessageType::kPodSpec, R"({"hostname":"h","apps":[{"name":"a",
        "exec":["/x"],"user":"0","group":"0","disk":0,
        "isolation":{"masked_paths":true,"no_new_privileges":false},"limits":{}}],
        "volumes":[{"name":"e","kind":"empty"}]})");
    const auto& volume = std::get<PodSpec>(v).volumes.at(0);
    EXPECT_EQ(volume.mode, 0755u);  // rkt's defaults
    EXPECT_EQ(volume.uid, 0u);
    EXPECT_EQ(volume.gid, 0u);
}

TEST(GuestProtocol, AppLimitsGoOnTheWireAndAreChecked) {
    nlohmann::json j = pod_json();
    EXPECT_EQ(j["apps"][0]["limits"], nlohmann::json::parse(
                                          R"({"memory_bytes":67108864,"cpu_millis":500,
                                              "cpu_weight":20,"pids_max":100})"));
    EXPECT_EQ(j["apps"][1]["limits"], nlohmann::json::parse(R"({"pids_max":4096})"));
    auto expect_bad = [](const std::function<void(nlohmann::json&)>& edit,
                         const std::string& needle) {
        nlohmann::json spec = pod_json();
        edit(spec["apps"][0]);
        expect_decode_error(MessageType::kPodSpec, spec.dump(), needle);
    };
    // Required: a host that forgot them must not get an unlimited app.
    expect_bad([](auto& a) { a.erase("limits"); }, "missing field \"limits\"");
    expect_bad([](auto& a) { a["limits"] = 5; }, "limits: must be an object");
    expect_bad([](auto& a) { a["limits"]["swap"] = 1; }, "unknown field \"swap\"");
    expect_bad([](auto& a) { a["limits"]["memory_bytes"] = 0; }, "expected 1..1099511627776");
    expect_bad([](auto& a) { a["limits"]["memory_bytes"] = (uint64_t{1} << 40) + 1; },
               "expected 1..1099511627776");
    expect_bad([](auto& a) { a["limits"]["memory_bytes"] = "64M"; }, "must be an integer");
    expect_bad([](auto& a) { a["limits"]["cpu_millis"] = 0; }, "expected 1..1000000");
    expect_bad([](auto& a) { a["limits"]["cpu_millis"] = 1000001; }, "expected 1..1000000");
    expect_bad([](auto& a) { a["limits"]["cpu_weight"] = 10001; }, "expected 1..10000");
    expect_bad([](auto& a) { a["limits"]["cpu_weight"] = 0; }, "expected 1..10000");
    expect_bad([](auto& a) { a["limits"]["pids_max"] = 0; }, "expected 1..4194304");
    expect_bad([](auto& a) { a["limits"]["pids_max"] = 4194305; }, "expected 1..4194304");
    expect_bad([](auto& a) { a["limits"]["pids_max"] = 1.5; }, "must be an integer");
    // The encoder checks the same rules.
    for (const auto& edit : std::vector<std::function<void(AppLimits&)>>{
             [](auto& l) { l.memory_bytes = 0; },
             [](auto& l) { l.memory_bytes = (uint64_t{1} << 40) + 1; },
             [](auto& l) { l.cpu_millis = 0; }, [](auto& l) { l.cpu_millis = kMaxCpuMillis + 1; },
             [](auto& l) { l.cpu_weight = 0; }, [](auto& l) { l.cpu_weight = kMaxCpuWeight + 1; },
             [](auto& l) { l.pids_max = 0; }, [](auto& l) { l.pids_max = kMaxPids + 1; }}) {
        PodSpec spec = sample_pod_spec();
        edit(spec.apps[0].limits);
        EXPECT_THROW(to_frame(spec), Error);
    }
}

TEST(GuestProtocol, DiskVerityGoesOnTheWireAndIsChecked) {
    nlohmann::json j = pod_json();
    EXPECT_EQ(j["apps"][0]["verity"], nlohmann::json({{"data_blocks", 300},
                                                      {"hash_start_block", 300},
                                                      {"root_hash", std::string(64, 'c')},
                                                      {"salt", std::string(64, '5')}}));
    EXPECT_FALSE(j["apps"][1].contains("verity"));  // optional: that disk is mounted as it is
    auto expect_bad = [](const std::function<void(nlohmann::json&)>& edit,
                         const std::string& needle) {
        nlohmann::json spec = pod_json();
        edit(spec["apps"][0]["verity"]);
        expect_decode_error(MessageType::kPodSpec, spec.dump(), needle);
    };
    expect_bad([](auto& v) { v = 1; }, "verity: must be an object");
    expect_bad([](auto& v) { v["extra"] = 1; }, "unknown field \"extra\"");
    expect_bad([](auto& v) { v.erase("salt"); }, "missing field \"salt\"");
    expect_bad([](auto& v) { v["data_blocks"] = 0; }, "expected 1..");
    expect_bad([](auto& v) { v["data_blocks"] = -5; }, "expected 1..");
    expect_bad([](auto& v) { v["data_blocks"] = "300"; }, "must be an integer");
    expect_bad([](auto& v) { v["hash_start_block"] = 299; }, "the hash tree follows the data");
    expect_bad([](auto& v) { v["hash_start_block"] = uint64_t{1} << 50; }, "expected 1..");
    expect_bad([](auto& v) { v["root_hash"] = std::string(63, 'c'); }, "verity.root_hash");
    expect_bad([](auto& v) { v["root_hash"] = std::string(64, 'C'); }, "verity.root_hash");
    expect_bad([](auto& v) { v["salt"] = std::string(64, 'g'); }, "verity.salt");
    // A salt or root that would end the table line early, or add a target option.
    expect_bad([](auto& v) { v["salt"] = std::string(62, 'a') + " 1"; }, "verity.salt");
    for (const auto& edit : std::vector<std::function<void(DiskVerity&)>>{
             [](auto& v) { v.data_blocks = 0; },
             [](auto& v) { v.hash_start_block = v.data_blocks - 1; },
             [](auto& v) { v.root_hash = "00"; }, [](auto& v) { v.salt = ""; }}) {
        PodSpec spec = sample_pod_spec();
        edit(*spec.apps[0].verity);
        EXPECT_THROW(to_frame(spec), Error);
    }
}

TEST(GuestProtocol, OomKilledIsOnlyForAnAppEndedBySigkill) {
    using K = MessageType;
    auto m = std::get<AppExited>(
        decode_json(K::kAppExited, R"({"app":"a","exit_code":137,"signal":9,"oom_killed":true})"));
    EXPECT_TRUE(m.oom_killed);
    EXPECT_FALSE(
        std::get<AppExited>(decode_json(K::kAppExited, R"({"app":"a","exit_code":0})")).oom_killed);
    expect_decode_error(K::kAppExited,
                        R"({"app":"a","exit_code":143,"signal":15,"oom_killed":true})",
                        "only for an app ended by SIGKILL");
    expect_decode_error(K::kAppExited, R"({"app":"a","exit_code":0,"oom_killed":true})",
                        "only for an app ended by SIGKILL");
    expect_decode_error(K::kAppExited, R"({"app":"a","exit_code":137,"signal":9,"oom_killed":1})",
                        "must be a boolean");
    EXPECT_THROW(to_frame(AppExited{"a", 143, 15, "", true}), Error);
    EXPECT_THROW(to_frame(AppExited{"a", 137, 9, "could not start: x", true}), Error);
    // Absent when false: what a version 3 reader knew, apart from the header.
    EXPECT_EQ(to_frame(AppExited{"a", 137, 9, ""}).json,
              R"({"app":"a","exit_code":137,"signal":9})");
}

TEST(GuestProtocol, EmptyVolumeModeAndOwnerGoOnTheWire) {
    nlohmann::json j = nlohmann::json::parse(to_frame(sample_pod_spec()).json);
    EXPECT_EQ(j["volumes"][1]["mode"], 01770);
    EXPECT_EQ(j["volumes"][1]["uid"], 1000);
    EXPECT_EQ(j["volumes"][1]["gid"], 1001);
    EXPECT_EQ(j["volumes"][2]["mode"], 0755);
    EXPECT_FALSE(j["volumes"][0].contains("mode"));  // 9p
    auto back = std::get<PodSpec>(decode_message(to_frame(sample_pod_spec())));
    EXPECT_EQ(back.volumes, sample_pod_spec().volumes);
}

TEST(GuestProtocol, EncoderRefusesWhatTheDecoderWouldReject) {
    PodSpec spec = sample_pod_spec();
    spec.apps[0].env.emplace_back("BAD");
    EXPECT_THROW(to_frame(spec), Error);
    spec = sample_pod_spec();
    spec.apps[0].env.emplace_back("LATIN1=\xe9", 8);  // not UTF-8
    EXPECT_THROW(to_frame(spec), Error);
    EXPECT_THROW(to_frame(AppOutput{"a", Stream::kStdout, std::string(kMaxPayloadLength + 1, 'x')}),
                 Error);
    EXPECT_THROW(to_frame(SignalApps{"", 0}), Error);
    spec = sample_pod_spec();
    spec.volumes[1].mode = 010000;
    EXPECT_THROW(to_frame(spec), Error);
    spec = sample_pod_spec();
    spec.volumes[1].uid = UINT32_MAX;
    EXPECT_THROW(to_frame(spec), Error);
    spec = sample_pod_spec();
    spec.volumes[1].gid = UINT32_MAX;
    EXPECT_THROW(to_frame(spec), Error);
    spec = sample_pod_spec();
    spec.volumes[0].uid = 1000;  // a 9p share with an owner would be silently ignored
    EXPECT_THROW(to_frame(spec), Error);
    // Diagnostics are never refused for their bytes: invalid UTF-8 is replaced.
    Frame f = to_frame(LogMessage{LogMessage::Level::kInfo, std::string("bad \xff byte")});
    auto back = std::get<LogMessage>(decode_message(f));
    EXPECT_NE(back.message.find("bad "), std::string::npos);
}

TEST(GuestProtocol, ReadsFromAnFdUntilEndOfFile) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    UniqueFd r(fds[0]), w(fds[1]);
    FrameWriter writer;
    // Enough output frames to overflow a pipe: the writer must wait for the reader.
    std::thread producer([&] {
        for (int i = 0; i < 20; ++i)
            writer.write(w.get(),
                         AppOutput{"a", Stream::kStdout, std::string(kOutputChunkSize, 'a' + i)});
        w.reset();
    });
    FrameReader reader;
    size_t frames = 0, bytes = 0;
    while (reader.read_from(r.get())) {
        while (auto m = reader.next_message()) {
            const auto& out = std::get<AppOutput>(*m);
            EXPECT_EQ(out.data[0], static_cast<char>('a' + frames));
            bytes += out.data.size();
            ++frames;
        }
    }
    producer.join();
    EXPECT_EQ(frames, 20u);
    EXPECT_EQ(bytes, 20 * kOutputChunkSize);
}

TEST(GuestProtocol, WriterFailsWhenThePeerIsGone) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
    UniqueFd r(fds[0]), w(fds[1]);
    r.reset();
    signal(SIGPIPE, SIG_IGN);
    FrameWriter writer;
    EXPECT_THROW(writer.write(w.get(), StopPod{false}), Error);
}

}  // namespace
}  // namespace rkt::guest
