#include "stage1-nspawn/pod.h"

#include <signal.h>
#include <unistd.h>

#include <cctype>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"
#include "common/uuid.h"

namespace rkt::nspawn {

using nlohmann::json;

namespace {

constexpr size_t kMaxPodFile = 16 * 1024 * 1024;
constexpr size_t kMaxOptionsFile = 1024 * 1024;

std::vector<std::string> string_list(const json& j, const char* key) {
    std::vector<std::string> out;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return out;
    if (!it->is_array()) throw Error(std::string("\"") + key + "\" must be an array of strings");
    for (const auto& e : *it) {
        if (!e.is_string()) throw Error(std::string("\"") + key + "\" must hold strings");
        out.push_back(e.get<std::string>());
    }
    return out;
}

std::optional<uint64_t> optional_number(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_unsigned()) throw Error(std::string("\"") + key + "\" must be a number");
    return it->get<uint64_t>();
}

bool optional_bool(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return false;
    if (!it->is_boolean()) throw Error(std::string("\"") + key + "\" must be true or false");
    return it->get<bool>();
}

std::string optional_string(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return "";
    if (!it->is_string()) throw Error(std::string("\"") + key + "\" must be a string");
    return it->get<std::string>();
}

}  // namespace

RunOptions RunOptions::load(const stdfs::path& file) {
    RunOptions o;
    std::error_code ec;
    if (!stdfs::exists(file, ec)) return o;
    return with_context(file.string(), [&] {
        json j = json::parse(fs::read_file_limited(file, kMaxOptionsFile), nullptr, false);
        if (j.is_discarded() || !j.is_object()) throw Error("not a JSON object");
        o.hostname = optional_string(j, "hostname");
        if (j.contains("net") && !j["net"].is_null()) o.net = string_list(j, "net");
        o.dns = string_list(j, "dns");
        o.dns_search = string_list(j, "dnsSearch");
        o.dns_options = string_list(j, "dnsOptions");
        o.dns_domain = optional_string(j, "dnsDomain");
        o.hosts_entries = string_list(j, "hostsEntries");
        o.insecure_options = string_list(j, "insecureOptions");
        o.interactive = optional_bool(j, "interactive");
        o.debug = optional_bool(j, "debug");
        o.memory = optional_number(j, "memory");
        o.cpu_millis = optional_number(j, "cpuMillis");
        return o;
    });
}

Pod Pod::open_current(const std::string& uuid, bool load_manifest) {
    if (!is_valid_uuid(uuid)) throw Error("\"" + uuid + "\" is not a pod UUID");
    Pod pod;
    pod.dir_ = stdfs::current_path();
    if (pod.dir_.filename() != uuid)
        throw Error("the current directory " + pod.dir_.string() + " is not the directory of pod " +
                    uuid + " (entrypoints run in the pod directory)");
    pod.uuid_ = uuid;
    if (!load_manifest) return pod;
    pod.manifest_ = with_context("pod manifest", [&] {
        return PodManifest::parse(fs::read_file_limited(pod.dir_ / "pod", kMaxPodFile));
    });
    if (pod.manifest_.apps.empty()) throw Error("the pod has no apps");
    pod.options_ = RunOptions::load(pod.dir_ / "run-options.json");
    return pod;
}

const RuntimeApp& Pod::app(const std::string& name) const {
    const RuntimeApp* a = manifest_.find_app(name);
    if (!a) throw Error("the pod has no app named \"" + name + "\"");
    return *a;
}

stdfs::path Pod::app_tree(const std::string& name) const {
    stdfs::path link = dir_ / "appsinfo" / name / "rootfs";
    std::error_code ec;
    stdfs::path real = stdfs::canonical(link, ec);
    if (ec || !stdfs::is_directory(real, ec))
        throw Error("app \"" + name + "\": " + link.string() +
                    " is not a directory (stage0 links it to the rendered image)");
    return real;
}

std::optional<pid_t> Pod::running_init_pid() const {
    auto text = fs::read_file_if_exists(pid_file());
    if (!text) return std::nullopt;
    std::string t = strings::trim(*text);
    if (!strings::is_decimal(t) || t.size() > 9) throw Error(pid_file().string() + " is malformed");
    pid_t pid = static_cast<pid_t>(std::stol(t));
    if (pid <= 1) throw Error(pid_file().string() + " is malformed");
    std::error_code ec;
    stdfs::path cwd = stdfs::read_symlink("/proc/" + t + "/cwd", ec);
    if (ec) return std::nullopt;           // gone (or a kernel thread)
    if (cwd != dir_) return std::nullopt;  // the number was reused by another process
    return pid;
}

std::string default_hostname(const std::string& uuid) {
    return "rkt-" + uuid;
}

bool is_valid_hostname(const std::string& name) {
    if (name.empty() || name.size() > 64) return false;
    for (const auto& label : strings::split(name, '.')) {
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (char c : label)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    return true;
}

}  // namespace rkt::nspawn
