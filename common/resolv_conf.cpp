#include "common/resolv_conf.h"

#include <arpa/inet.h>

#include "common/error.h"
#include "common/strings.h"

namespace rkt {

namespace {

bool only(const std::vector<std::string>& list, std::string_view word) {
    return list.size() == 1 && list[0] == word;
}

bool is_word(std::string_view s) {
    if (s.empty() || s.size() > 255) return false;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return false;
    }
    return true;
}

std::string in_quotes(std::string_view s) {
    return "\"" + strings::printable(s, 80) + "\"";
}

}  // namespace

bool is_ip_address(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    std::string z(s);
    unsigned char buf[16];
    return ::inet_pton(AF_INET, z.c_str(), buf) == 1 || ::inet_pton(AF_INET6, z.c_str(), buf) == 1;
}

bool is_domain_name(std::string_view s) {
    if (!s.empty() && s.back() == '.') s.remove_suffix(1);
    if (s.empty() || s.size() > 253) return false;
    for (const auto& label : strings::split(s, '.')) {
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (char c : label) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
            if (!ok) return false;
        }
    }
    return true;
}

void check_dns_flags(const std::vector<std::string>& dns, const std::vector<std::string>& search,
                     const std::vector<std::string>& options, const std::string& domain) {
    bool host = false, none = false;
    for (const auto& v : dns) {
        if (v == "host" || v == "none") {
            if (dns.size() != 1)
                throw Error("--dns=" + v + " cannot be combined with other --dns values");
            (v == "host" ? host : none) = true;
        } else if (!is_ip_address(v)) {
            throw Error("--dns " + in_quotes(v) +
                        " is not an IP address (give name server IPs, or host or none alone)");
        }
    }
    if ((host || none) && (!search.empty() || !options.empty() || !domain.empty()))
        throw Error(std::string("--dns-search, --dns-opt and --dns-domain do not work with "
                                "--dns=") +
                    (host ? "host (the pod shares the host's resolv.conf)"
                          : "none (the pod keeps its image's resolv.conf)"));
    for (const auto& s : search)
        if (!is_domain_name(s))
            throw Error("--dns-search " + in_quotes(s) +
                        " is not a domain name (e.g. example.com)");
    for (const auto& o : options)
        if (!is_word(o))
            throw Error("--dns-opt " + in_quotes(o) +
                        " must be one resolv.conf option without spaces (e.g. ndots:2)");
    // The guest protocol holds the domain to a host name's rules (pod_spec.cpp): so does stage0.
    if (!domain.empty() && !strings::is_valid_hostname(domain))
        throw Error("--dns-domain " + in_quotes(domain) +
                    " is not a domain name (e.g. example.com)");
}

void check_hosts_entries(const std::vector<std::string>& entries) {
    for (const auto& e : entries) {
        if (e == "host") {
            if (entries.size() != 1)
                throw Error("--hosts-entry=host cannot be combined with other entries");
            continue;
        }
        auto eq = e.find('=');
        std::string ip = eq == std::string::npos ? "" : e.substr(0, eq);
        std::string name = eq == std::string::npos ? "" : e.substr(eq + 1);
        if (!is_ip_address(ip) || !is_domain_name(name))
            throw Error("--hosts-entry " + in_quotes(e) +
                        " is not IP=HOSTNAME (e.g. 128.66.0.99=host1), or host alone");
    }
}

DnsChoice choose_dns(const RunOptions& o, bool host_network,
                     const std::optional<ResolvConf>& network_dns,
                     const std::string& network_name) {
    // run-options.json may be older or hand-made: the stage1s check it as stage0 did.
    check_dns_flags(o.dns, o.dns_search, o.dns_options, o.dns_domain);
    DnsChoice c;
    if (only(o.dns, "host")) {
        c.source = DnsChoice::Source::kHost;
        return c;
    }
    if (only(o.dns, "none")) return c;
    bool flags =
        !o.dns.empty() || !o.dns_search.empty() || !o.dns_options.empty() || !o.dns_domain.empty();
    if (flags) {
        c.source = DnsChoice::Source::kGenerated;
        c.conf = {o.dns, o.dns_search, o.dns_options, o.dns_domain};
        return c;
    }
    if (network_dns) {
        // A plugin's result is not ours to trust: what is not a valid value is left out.
        auto keep = [](const std::vector<std::string>& in, bool (*ok)(std::string_view)) {
            std::vector<std::string> out;
            for (const auto& v : in)
                if (ok(v)) out.push_back(v);
            return out;
        };
        c.conf.nameservers = keep(network_dns->nameservers, is_ip_address);
        c.conf.search = keep(network_dns->search, is_domain_name);
        c.conf.options = keep(network_dns->options, is_word);
        if (is_domain_name(network_dns->domain)) c.conf.domain = network_dns->domain;
    }
    if (c.conf != ResolvConf{}) {
        c.source = DnsChoice::Source::kGenerated;
        c.origin = "rkt from network " + network_name;
        return c;
    }
    if (host_network) c.source = DnsChoice::Source::kHost;
    return c;
}

std::string resolv_conf_text(const ResolvConf& conf, const std::string& origin) {
    std::string text = "# Generated by " + origin + "\n";
    for (const auto& ns : conf.nameservers) text += "nameserver " + ns + "\n";
    // glibc takes the last of "domain" and "search": a search list, when there is one, wins.
    if (!conf.domain.empty()) text += "domain " + conf.domain + "\n";
    if (!conf.search.empty()) text += "search " + strings::join(conf.search, " ") + "\n";
    if (!conf.options.empty()) text += "options " + strings::join(conf.options, " ") + "\n";
    return text;
}

}  // namespace rkt
