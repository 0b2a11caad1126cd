#include "common/run_options.h"

#include "common/error.h"
#include "common/fs.h"

namespace rkt {

nlohmann::json RunOptions::to_json() const {
    nlohmann::json j = {{"hostname", hostname},
                        {"net", net},
                        {"dns", dns},
                        {"dnsSearch", dns_search},
                        {"dnsOptions", dns_options},
                        {"dnsDomain", dns_domain},
                        {"hostsEntries", hosts_entries},
                        {"localConfig", local_config},
                        {"systemConfig", system_config},
                        {"cniPath", cni_path},
                        {"insecureOptions", insecure_options},
                        {"interactive", interactive},
                        {"debug", debug},
                        {"engine", engine}};
    nlohmann::json ports_json = nlohmann::json::array();
    for (const auto& p : ports)
        ports_json.push_back({{"name", p.name},
                              {"protocol", p.protocol},
                              {"podPort", p.pod_port},
                              {"hostIP", p.host_ip},
                              {"hostPort", p.host_port}});
    j["ports"] = ports_json;
    j["memory"] = memory ? nlohmann::json(*memory) : nlohmann::json(nullptr);
    j["cpuMillis"] = cpu_millis ? nlohmann::json(*cpu_millis) : nlohmann::json(nullptr);
    j["privateUsers"] =
        private_users.empty() ? nlohmann::json(nullptr) : nlohmann::json(private_users);
    return j;
}

RunOptions RunOptions::from_json(const nlohmann::json& j) {
    RunOptions o;
    o.hostname = j.value("hostname", "");
    o.net = j.value("net", std::vector<std::string>{"default"});
    o.dns = j.value("dns", std::vector<std::string>{});
    o.dns_search = j.value("dnsSearch", std::vector<std::string>{});
    o.dns_options = j.value("dnsOptions", std::vector<std::string>{});
    o.dns_domain = j.value("dnsDomain", "");
    o.hosts_entries = j.value("hostsEntries", std::vector<std::string>{});
    o.local_config = j.value("localConfig", o.local_config);
    o.system_config = j.value("systemConfig", o.system_config);
    o.cni_path = j.value("cniPath", o.cni_path);
    if (j.contains("ports") && j["ports"].is_array()) {
        for (const auto& p : j["ports"]) {
            PortForward f;
            f.name = p.value("name", "");
            f.protocol = p.value("protocol", "tcp");
            f.pod_port = p.value("podPort", uint16_t{0});
            f.host_ip = p.value("hostIP", "");
            f.host_port = p.value("hostPort", uint16_t{0});
            o.ports.push_back(std::move(f));
        }
    }
    o.insecure_options = j.value("insecureOptions", std::vector<std::string>{});
    o.interactive = j.value("interactive", false);
    o.debug = j.value("debug", false);
    o.engine = j.value("engine", "");
    if (j.contains("memory") && j["memory"].is_number_unsigned())
        o.memory = j["memory"].get<uint64_t>();
    if (j.contains("cpuMillis") && j["cpuMillis"].is_number_unsigned())
        o.cpu_millis = j["cpuMillis"].get<uint64_t>();
    if (j.contains("privateUsers") && j["privateUsers"].is_string())
        o.private_users = j["privateUsers"].get<std::string>();
    return o;
}

RunOptions load_run_options(const std::string& pod_dir) {
    auto text = fs::read_file_if_exists(pod_dir + "/run-options.json");
    if (!text) return RunOptions{};
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error("run-options.json is not a JSON object");
    try {
        return RunOptions::from_json(j);
    } catch (const nlohmann::json::exception& e) {
        throw Error(std::string("run-options.json: ") + e.what());
    }
}

}  // namespace rkt
