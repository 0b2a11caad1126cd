#include "stage0/commands/pod_info.h"

#include <sstream>

#include "common/fs.h"
#include "common/strings.h"

namespace rkt::commands {

int64_t to_unix_nanos(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string pod_networks(const pod::Pod& p) {
    auto text = fs::read_file_if_exists(p.path() / "net-info.json");
    if (!text) return "";
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_array()) return "";
    std::vector<std::string> parts;
    for (const auto& n : j) {
        if (!n.is_object()) continue;
        parts.push_back(n.value("netName", "?") + ":ip4=" + n.value("ip", "?"));
    }
    return strings::join(parts, ", ");
}

std::string status_text(const pod::Pod& p) {
    std::ostringstream out;
    out << "state=" << pod::state_name(p.state()) << "\n";
    if (auto c = p.created()) out << "created=" << strings::format_time(*c) << "\n";
    if (auto s = p.started()) out << "started=" << strings::format_time(*s) << "\n";
    if (p.is_running() || p.is_finished()) out << "networks=" << pod_networks(p) << "\n";
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
    nlohmann::json nets = nlohmann::json::array();
    if (auto text = fs::read_file_if_exists(p.path() / "net-info.json")) {
        auto n = nlohmann::json::parse(*text, nullptr, false);
        if (n.is_array())
            for (const auto& e : n)
                if (e.is_object())
                    nets.push_back(
                        {{"netName", e.value("netName", "")}, {"ip", e.value("ip", "")}});
    }
    j["networks"] = nets;
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
