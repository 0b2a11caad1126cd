// ImageConfig's own JSON shape: what stage0 writes to appsinfo/<app>/manifest.
#include "common/error.h"
#include "stage0/store/image_store.h"

namespace rkt::store {

using nlohmann::json;

json ImageConfig::to_json() const {
    json env_json = json::array();
    for (const auto& e : env) env_json.push_back({{"name", e.name}, {"value", e.value}});
    json j;
    j["os"] = os;
    j["architecture"] = architecture;
    j["entrypoint"] = entrypoint;
    j["cmd"] = cmd;
    j["env"] = env_json;
    j["user"] = user;
    j["workingDir"] = working_dir;
    j["labels"] = labels;
    j["exposedPorts"] = exposed_ports;
    j["volumes"] = volumes;
    return j;
}

ImageConfig ImageConfig::from_json(const json& j) {
    try {
        if (!j.is_object()) throw Error("image config is not a JSON object");
        ImageConfig c;
        c.os = j.value("os", c.os);
        c.architecture = j.value("architecture", c.architecture);
        c.entrypoint = j.value("entrypoint", std::vector<std::string>{});
        c.cmd = j.value("cmd", std::vector<std::string>{});
        if (auto it = j.find("env"); it != j.end()) {
            if (!it->is_array()) throw Error("image config: \"env\" is not an array");
            for (const auto& e : *it)
                c.env.push_back(
                    {e.at("name").get<std::string>(), e.at("value").get<std::string>()});
        }
        c.user = j.value("user", std::string());
        c.working_dir = j.value("workingDir", std::string());
        c.labels = j.value("labels", std::map<std::string, std::string>{});
        c.exposed_ports = j.value("exposedPorts", std::vector<std::string>{});
        c.volumes = j.value("volumes", std::vector<std::string>{});
        return c;
    } catch (const json::exception& e) {
        throw Error(std::string("malformed image config: ") + e.what());
    }
}

}  // namespace rkt::store
