#include "stage1-nspawn/etc_files.h"

#include <arpa/inet.h>

#include <map>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"

namespace rkt::nspawn {
namespace {

bool is_ip(const std::string& s) {
    unsigned char buf[16];
    return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool is_host_name(const std::string& s) {
    if (s.empty() || s.size() > 253) return false;
    for (char c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
            return false;
    return true;
}

// Pod bookkeeping, gone with the pod: atomic, not fsynced (fs.h).
constexpr fs::Durability kDurability = fs::Durability::kAtomicOnly;

bool only(const std::vector<std::string>& list, const char* word) {
    return list.size() == 1 && list[0] == word;
}

}  // namespace

std::string hosts_text(const std::string& hostname, const std::vector<std::string>& entries) {
    // rkt's fallback, with the pod's own name on the loopback line (rkt#3952).
    std::string text = "127.0.0.1 localhost localhost.domain localhost4 localhost4.localdomain4 " +
                       hostname + "\n::1 localhost localhost.domain localhost6 " +
                       "localhost6.localdomain6 " + hostname + "\n";
    // "IP=name" entries, grouped by IP in the order the IPs first appear.
    std::vector<std::string> order;
    std::map<std::string, std::vector<std::string>> names;
    for (const auto& e : entries) {
        auto eq = e.find('=');
        std::string ip = eq == std::string::npos ? "" : e.substr(0, eq);
        std::string name = eq == std::string::npos ? "" : e.substr(eq + 1);
        if (!is_ip(ip) || !is_host_name(name))
            throw Error("bad hosts entry \"" + e + "\" (use IP=HOSTNAME, e.g. 128.66.0.99=host1)");
        if (!names.count(ip)) order.push_back(ip);
        names[ip].push_back(name);
    }
    for (const auto& ip : order) text += ip + " " + strings::join(names[ip], " ") + "\n";
    return text;
}

EtcFiles prepare_etc_files(const Pod& pod, const std::string& hostname, bool host_network,
                           const std::optional<ResolvConf>& network_dns,
                           const std::string& network_name) {
    const RunOptions& o = pod.options();
    stdfs::path dir = pod.etc_dir();
    fs::make_dirs(dir, 0755);
    EtcFiles files;

    files.hostname = {dir / "hostname", false};
    fs::write_file_atomic(files.hostname.source, hostname + "\n", 0644, kDurability);

    files.hosts_fallback = {dir / "hosts", false};
    if (only(o.hosts_entries, "host")) {
        files.hosts = EtcFile{"/etc/hosts", true};
        fs::write_file_atomic(files.hosts_fallback.source, hosts_text(hostname, {}), 0644,
                              kDurability);
    } else {
        fs::write_file_atomic(files.hosts_fallback.source, hosts_text(hostname, o.hosts_entries),
                              0644, kDurability);
        if (!o.hosts_entries.empty()) files.hosts = files.hosts_fallback;
    }

    DnsChoice dns = choose_dns(o, host_network, network_dns, network_name);
    if (dns.source == DnsChoice::Source::kHost) {
        // The host's file is shared read-only (and only if the host has one).
        std::error_code ec;
        if (stdfs::exists("/etc/resolv.conf", ec))
            files.resolv_conf = EtcFile{"/etc/resolv.conf", true};
    } else if (dns.source == DnsChoice::Source::kGenerated) {
        files.resolv_conf = EtcFile{dir / "resolv.conf", false};
        fs::write_file_atomic(files.resolv_conf->source, resolv_conf_text(dns.conf, dns.origin),
                              0644, kDurability);
    }
    // Otherwise (no DNS flag off the host network, or --dns=none) the image's own file.
    return files;
}

}  // namespace rkt::nspawn
