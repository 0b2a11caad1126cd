#include "network/net_config.h"

#include <sys/stat.h>

#include <algorithm>
#include <system_error>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "network/json_input.h"
#include "network/net_selection.h"

namespace rkt::net {

namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;

constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr size_t kMaxConfigFiles = 1000;
constexpr size_t kMaxPlugins = 32;
// The version given to a config that names none (the spec requires one; Debian's plugins 1.1.1
// speak 1.0.0, and so do rkt's built-ins).
constexpr const char* kDefaultCniVersion = "1.0.0";

// A plugin type is a file name on the search path: nothing that could leave its directory.
bool is_valid_plugin_type(const std::string& type) {
    if (type.empty() || type.size() > 255 || type == "." || type == "..") return false;
    return std::all_of(type.begin(), type.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
}

void check_plugin(const json& plugin, size_t index) {
    std::string where = "plugin " + std::to_string(index);
    if (!plugin.is_object()) throw Error(where + " is not an object");
    auto type = plugin.find("type");
    if (type == plugin.end() || !type->is_string())
        throw Error(where + " has no \"type\" (the plugin's executable name)");
    if (!is_valid_plugin_type(type->get<std::string>()))
        throw Error(where + ": \"" + strings::printable(type->get<std::string>()) +
                    "\" is not a plugin name (letters, digits, '_', '-', '.')");
    if (auto ipam = plugin.find("ipam"); ipam != plugin.end()) {
        if (!ipam->is_object()) throw Error(where + ": \"ipam\" is not an object");
        if (auto t = ipam->find("type");
            t != ipam->end() && (!t->is_string() || !is_valid_plugin_type(*t)))
            throw Error(where + ": \"ipam\" has a bad \"type\"");
    }
}

// Any config as a conflist, with what rkt adds: a host-local IPAM's dataDir, ip_masq.
NetworkConfig normalize(json doc, const std::string& source, const stdfs::path& ipam_data_dir) {
    if (!doc.is_object()) throw Error("not a JSON object");
    auto name = doc.find("name");
    if (name == doc.end() || !name->is_string())
        throw Error("no \"name\" (the network's name, used by --net)");
    if (!is_valid_network_name(name->get<std::string>()))
        throw Error("\"" + strings::printable(name->get<std::string>()) +
                    "\" is not a valid network name (letters, digits, '_', '.' and '-')");
    std::string version = kDefaultCniVersion;
    if (auto v = doc.find("cniVersion"); v != doc.end()) {
        if (!v->is_string() || v->get<std::string>().empty() || v->get<std::string>().size() > 32)
            throw Error("\"cniVersion\" is not a version string");
        version = v->get<std::string>();
    }
    json list;
    if (doc.contains("plugins")) {
        list = std::move(doc);
        if (!list["plugins"].is_array() || list["plugins"].empty())
            throw Error("\"plugins\" is not a non-empty array");
    } else {
        json plugin = doc;
        plugin.erase("name");
        plugin.erase("cniVersion");
        list = json{{"name", doc["name"]}, {"plugins", json::array({std::move(plugin)})}};
        if (doc.contains("disableCheck")) list["disableCheck"] = doc["disableCheck"];
    }
    list["cniVersion"] = version;
    if (list["plugins"].size() > kMaxPlugins)
        throw Error("more than " + std::to_string(kMaxPlugins) + " plugins in the chain");

    NetworkConfig config;
    config.name = list["name"].get<std::string>();
    config.source = source;
    size_t index = 0;
    for (auto& plugin : list["plugins"]) {
        check_plugin(plugin, index++);
        if (auto masq = plugin.find("ipMasq");
            masq != plugin.end() && masq->is_boolean() && masq->get<bool>())
            config.ip_masq = true;
        auto ipam = plugin.find("ipam");
        if (ipam != plugin.end() && ipam->value("type", "") == "host-local" &&
            !ipam->contains("dataDir") && !ipam_data_dir.empty())
            (*ipam)["dataDir"] = ipam_data_dir.string();
    }
    config.list = std::move(list);
    return config;
}

bool is_config_file(const stdfs::path& path) {
    auto ext = path.extension();
    return ext == ".conf" || ext == ".conflist" || ext == ".json";
}

// The config files of `dir` in lexical order; none when the directory does not exist.
std::vector<stdfs::path> config_files(const stdfs::path& dir) {
    std::vector<stdfs::path> files;
    std::error_code ec;
    stdfs::directory_iterator it(dir, ec);
    if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory)
        return files;
    if (ec) throw Error("cannot list network configs in " + dir.string() + ": " + ec.message());
    for (const auto& entry : it) {
        if (!is_config_file(entry.path())) continue;
        std::error_code type_ec;
        if (!entry.is_regular_file(type_ec)) continue;  // follows symlinks, as CNI does
        files.push_back(entry.path());
        if (files.size() > kMaxConfigFiles)
            throw Error("more than " + std::to_string(kMaxConfigFiles) + " network configs in " +
                        dir.string());
    }
    std::sort(files.begin(), files.end());
    return files;
}

void load_dir(const stdfs::path& dir, const stdfs::path& ipam_data_dir,
              std::map<std::string, NetworkConfig>& configs) {
    std::map<std::string, std::string> from_this_dir;  // name -> file
    for (const auto& file : config_files(dir)) {
        NetworkConfig config = with_context("network config " + file.string(), [&] {
            std::string text = fs::read_file_limited(file, kMaxConfigBytes);
            return normalize(parse_untrusted_json(text, "JSON"), file.string(), ipam_data_dir);
        });
        // A later file of the same directory wins (lexical order, as CNI's own loader reads).
        if (auto earlier = from_this_dir.find(config.name); earlier != from_this_dir.end())
            log::warn("network " + config.name + ": " + file.string() + " replaces " +
                      earlier->second + " (both define it)");
        from_this_dir[config.name] = file.string();
        configs[config.name] = std::move(config);
    }
}

}  // namespace

NetworkConfig builtin_network(const std::string& name, const stdfs::path& ipam_data_dir) {
    json ipam;
    bool masq;
    if (name == "default") {
        masq = true;
        ipam = {{"type", "host-local"},
                {"subnet", "172.16.28.0/24"},
                {"routes", json::array({{{"dst", "0.0.0.0/0"}}})}};
    } else if (name == "default-restricted") {
        masq = false;
        ipam = {{"type", "host-local"}, {"subnet", "172.31.0.0/16"}};
    } else {
        throw Error("there is no built-in network \"" + name + "\"");
    }
    json conf = {{"cniVersion", "1.0.0"},
                 {"name", name},
                 {"type", "ptp"},
                 {"ipMasq", masq},
                 {"ipam", std::move(ipam)}};
    return normalize(std::move(conf), "built-in", ipam_data_dir);
}

std::map<std::string, NetworkConfig> load_network_configs(const ConfigSources& sources) {
    std::map<std::string, NetworkConfig> configs;
    for (const char* name : {"default", "default-restricted"})
        configs[name] = builtin_network(name, sources.ipam_data_dir);
    if (!sources.system_config.empty())
        load_dir(sources.system_config / "net.d", sources.ipam_data_dir, configs);
    if (!sources.local_config.empty())
        load_dir(sources.local_config / "net.d", sources.ipam_data_dir, configs);
    return configs;
}

}  // namespace rkt::net
