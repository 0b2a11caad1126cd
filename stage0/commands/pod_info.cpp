#include "stage0/commands/pod_info.h"

#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"

namespace rkt::commands {

namespace {
constexpr size_t kMaxNetInfo = 1 << 20;
}  // namespace

int64_t to_unix_nanos(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

nlohmann::json pod_net_info(const std::filesystem::path& pod_dir) {
    nlohmann::json out = nlohmann::json::array();
    std::optional<std::string> text;
    try {
        text = fs::read_file_if_exists(pod_dir / "net-info.json");
    } catch (const Error&) {
        return out;  // unreadable (e.g. this user may not read the pod): no networks to show
    }
    // A stage1 writes a few hundred bytes a network; anything huge is not a net-info.json.
    if (!text || text->size() > kMaxNetInfo) return out;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_array()) return out;
    for (const auto& n : j) {
        if (!n.is_object()) continue;
        nlohmann::json e = nlohmann::json::object();
        for (const char* key :
             {"netName", "netConf", "pluginPath", "ifName", "ip", "args", "mask"}) {
            auto it = n.find(key);
            e[key] = it != n.end() && it->is_string() ? it->get<std::string>() : std::string();
        }
        out.push_back(std::move(e));
    }
    return out;
}

std::string networks_text(const nlohmann::json& nets, const std::string& sep) {
    std::vector<std::string> parts;
    for (const auto& n : nets) {
        const std::string& ip = n["ip"].get_ref<const std::string&>();
        if (ip.empty()) continue;  // rkt's form is about IPv4 addresses: nothing to show
        parts.push_back(strings::printable(n["netName"].get_ref<const std::string&>(), 64) +
                        ":ip4=" + strings::printable(ip, 64));
    }
    return strings::join(parts, sep);
}

std::string pod_networks(const pod::Pod& p) {
    return networks_text(pod_net_info(p.path()), ", ");
}

std::string status_text(const pod::Pod& p) {
    std::ostringstream out;
    out << "state=" << pod::state_name(p.state()) << "\n";
    if (auto c = p.created()) out << "created=" << strings::format_time(*c) << "\n";
    if (auto s = p.started()) out << "started=" << strings::format_time(*s) << "\n";
    if (p.is_running() || p.is_finished())
        out << "networks=" << networks_text(pod_net_info(p.path()), ",") << "\n";
    if (auto pid = p.pid()) out << "pid=" << *pid << "\n";
    out << "exited=" << (!p.state_known() ? "unknown" : p.is_finished() ? "true" : "false") << "\n";
    if (!p.is_running()) {
        auto codes = p.app_exit_codes();
        if (auto m = p.manifest()) {
            for (const auto& a : m->apps) {
                auto it = codes.find(a.name);
                if (it == codes.end()) continue;
                out << "app-" << a.name << "=" << it->second << "\n";
                if (auto reason = p.app_end_reason(a.name))
                    out << "app-" << a.name << "-reason=" << *reason << "\n";
            }
        }
    }
    return out.str();
}

nlohmann::json pod_to_json(const pod::Pod& p) {
    nlohmann::json j;
    j["name"] = p.uuid();
    j["state"] = pod::state_name(p.state());
    j["networks"] = pod_net_info(p.path());
    nlohmann::json names = nlohmann::json::array();
    nlohmann::json apps = nlohmann::json::array();
    auto codes = p.app_exit_codes();
    if (auto m = p.manifest()) {
        for (const auto& a : m->apps) {
            names.push_back(a.name);
            nlohmann::json ja = {
                {"name", a.name}, {"image_id", a.image.id}, {"image_name", a.image.name}};
            if (auto it = codes.find(a.name); it != codes.end()) {
                ja["state"] = "exited";
                ja["exit_code"] = it->second;
                if (auto reason = p.app_end_reason(a.name)) ja["end_reason"] = *reason;
            } else {
                ja["state"] = p.is_running() ? "running" : "unknown";
            }
            apps.push_back(ja);
        }
    }
    j["app_names"] = names;
    j["apps"] = apps;
    if (auto c = p.created()) j["created_at"] = to_unix_nanos(*c);
    if (auto s = p.started()) j["started_at"] = to_unix_nanos(*s);
    j["user_annotations"] = nlohmann::json::object();
    j["user_labels"] = nlohmann::json::object();
    return j;
}

}  // namespace rkt::commands
