#include "network/cni_plugin.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/process.h"
#include "common/strings.h"
#include "network/json_input.h"

namespace rkt::net {

namespace {

using nlohmann::json;

constexpr size_t kMaxPluginOutput = 1 << 20;
constexpr size_t kExcerptBytes = 200;
// Plugins such as portmap and ptp (ipMasq) run iptables: they need a PATH of their own.
constexpr const char* kPluginPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string seconds_text(std::chrono::milliseconds d) {
    if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
    return std::to_string(d.count()) + " ms";
}

// The message of a CNI error result ({"code", "msg", "details"}), or "" when `out` is not one.
std::string error_result_message(const std::string& out) {
    json j;
    try {
        j = parse_untrusted_json(out, "output");
    } catch (const Error&) {
        return "";
    }
    if (!j.is_object() || !j.contains("msg")) return "";
    std::string message;
    if (auto code = j.find("code"); code != j.end() && code->is_number_integer())
        message = "(code " + std::to_string(code->get<long long>()) + ") ";
    const json& msg = j["msg"];
    message += strings::printable(msg.is_string() ? msg.get<std::string>() : msg.dump(), 400);
    if (auto details = j.find("details"); details != j.end() && details->is_string() &&
                                          !details->get_ref<const std::string&>().empty())
        message += ": " + strings::printable(details->get<std::string>(), 400);
    return message;
}

}  // namespace

std::string find_plugin(const std::string& type, const std::vector<std::string>& search_path) {
    bool plain_name = !type.empty() && type != "." && type != ".." &&
                      type.find('/') == std::string::npos && type.find('\0') == std::string::npos;
    if (!plain_name) throw Error("plugin \"" + strings::printable(type) + "\": not a plugin name");
    for (const auto& dir : search_path) {
        if (dir.empty()) continue;
        std::string candidate = dir + "/" + type;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) != 0) continue;
        if (!S_ISREG(st.st_mode) || ::access(candidate.c_str(), X_OK) != 0)
            throw Error("plugin " + type + ": " + candidate +
                        " is not an executable file (chmod +x it, or remove it)");
        return candidate;
    }
    throw Error("plugin " + type + ": not found in the CNI path " +
                strings::join(search_path, ":") +
                " (install containernetworking-plugins, or add its directory to the CNI path)");
}

json run_plugin(const PluginCall& call) {
    std::string type = call.config.is_object() ? call.config.value("type", "") : "";
    if (type.empty()) throw Error("plugin ?: the config has no \"type\"");
    std::string path = find_plugin(type, call.search_path);  // its errors name the plugin
    return with_context("plugin " + type, [&]() -> json {
        SpawnOptions opts;
        opts.env = std::vector<std::string>{"CNI_COMMAND=" + call.command,
                                            "CNI_CONTAINERID=" + call.container_id,
                                            "CNI_NETNS=" + call.netns,
                                            "CNI_IFNAME=" + call.ifname,
                                            "CNI_ARGS=" + call.args,
                                            "CNI_PATH=" + strings::join(call.search_path, ":"),
                                            kPluginPath};
        opts.stdin_data = call.config.dump();
        opts.capture_stdout = true;  // stderr is the plugin's log: it stays ours
        opts.output_limit = kMaxPluginOutput + 1;
        opts.new_process_group = true;
        opts.kill_process_group = true;
        ChildProcess child = ChildProcess::spawn({path}, opts);
        auto code = child.wait_for(call.timeout);
        if (!code) {
            child.kill(SIGKILL);
            throw Error(call.command + " did not finish within " + seconds_text(call.timeout) +
                        "; it was killed");
        }
        const std::string& out = child.output();
        if (child.output_truncated())
            throw Error(call.command + " printed more than " + std::to_string(kMaxPluginOutput) +
                        " bytes");
        if (*code != 0) {
            std::string reason = *code > 128 ? "was killed by signal " + std::to_string(*code - 128)
                                             : "failed with exit code " + std::to_string(*code);
            if (std::string message = error_result_message(out); !message.empty())
                throw Error(call.command + " failed " + message);
            std::string text = strings::trim(out);
            throw Error(call.command + " " + reason +
                        (text.empty() ? std::string(" and printed nothing")
                                      : ": \"" + strings::printable(text, kExcerptBytes) + "\""));
        }
        if (strings::trim(out).empty()) return nullptr;
        try {
            return parse_untrusted_json(out, call.command + " output", kMaxPluginOutput);
        } catch (const Error&) {
            throw Error(call.command + " printed something that is not JSON: \"" +
                        strings::printable(strings::trim(out), kExcerptBytes) + "\"");
        }
    });
}

}  // namespace rkt::net
