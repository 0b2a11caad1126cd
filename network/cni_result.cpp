#include "network/cni_result.h"

#include <cctype>

#include "common/error.h"
#include "common/strings.h"
#include "network/addresses.h"

namespace rkt::net {

namespace {

using nlohmann::json;

constexpr size_t kMaxEntries = 64;  // interfaces, ips, dns lists
constexpr size_t kMaxRoutes = 1024;
constexpr size_t kMaxStringBytes = 256;

std::string string_field(const json& object, const char* key, const std::string& where,
                         bool required = false) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
        if (required) throw Error(where + " has no \"" + key + "\"");
        return "";
    }
    if (!it->is_string()) throw Error(where + ": \"" + key + "\" is not a string");
    const auto& s = it->get_ref<const std::string&>();
    if (s.size() > kMaxStringBytes)
        throw Error(where + ": \"" + key + "\" is longer than " + std::to_string(kMaxStringBytes) +
                    " bytes");
    return s;
}

const json* array_field(const json& object, const char* key, size_t max, const std::string& where) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return nullptr;
    if (!it->is_array()) throw Error(where + "\"" + key + "\" is not an array");
    if (it->size() > max)
        throw Error(where + "\"" + key + "\" has more than " + std::to_string(max) + " entries");
    return &*it;
}

const json& object_entry(const json& entry, const std::string& where) {
    if (!entry.is_object()) throw Error(where + " is not an object");
    return entry;
}

bool is_mac(const std::string& s) {
    if (s.size() != 17) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        if (i % 3 == 2 ? s[i] != ':' : !std::isxdigit(static_cast<unsigned char>(s[i])))
            return false;
    }
    return true;
}

std::string address_field(const json& object, const char* key, const std::string& where) {
    std::string s = string_field(object, key, where);
    if (!s.empty() && !is_ip_address(s))
        throw Error(where + ": \"" + key + "\" is not an IP address: \"" + strings::printable(s) +
                    "\"");
    return s;
}

std::string cidr_field(const json& object, const char* key, const std::string& where) {
    std::string s = string_field(object, key, where, true);
    if (!parse_cidr(s))
        throw Error(where + ": \"" + key + "\" is not an address with a prefix (a.b.c.d/n): \"" +
                    strings::printable(s) + "\"");
    return s;
}

std::vector<std::string> string_list(const json& object, const char* key,
                                     const std::string& where) {
    std::vector<std::string> out;
    const json* list = array_field(object, key, kMaxEntries, where);
    if (!list) return out;
    for (const auto& item : *list) {
        if (!item.is_string() || item.get_ref<const std::string&>().size() > kMaxStringBytes)
            throw Error(where + "\"" + key + "\" holds something that is not a short string");
        out.push_back(item.get<std::string>());
    }
    return out;
}

}  // namespace

CniResult parse_cni_result(const json& j) {
    if (!j.is_object()) throw Error("the result is not a JSON object");
    CniResult result;
    result.cni_version = string_field(j, "cniVersion", "the result", true);
    if (result.cni_version.starts_with("0.1.") || result.cni_version.starts_with("0.2."))
        throw Error("results of cniVersion " + strings::printable(result.cni_version) +
                    " are not supported (set \"cniVersion\": \"1.0.0\" in the network's config)");

    if (const json* list = array_field(j, "interfaces", kMaxEntries, "the result's ")) {
        for (size_t i = 0; i < list->size(); ++i) {
            std::string where = "interfaces[" + std::to_string(i) + "]";
            const json& e = object_entry((*list)[i], where);
            CniInterface iface;
            iface.name = string_field(e, "name", where, true);
            iface.mac = string_field(e, "mac", where);
            if (!iface.mac.empty() && !is_mac(iface.mac))
                throw Error(where + ": \"mac\" is not a MAC address: \"" +
                            strings::printable(iface.mac) + "\"");
            iface.sandbox = string_field(e, "sandbox", where);
            result.interfaces.push_back(std::move(iface));
        }
    }
    if (const json* list = array_field(j, "ips", kMaxEntries, "the result's ")) {
        for (size_t i = 0; i < list->size(); ++i) {
            std::string where = "ips[" + std::to_string(i) + "]";
            const json& e = object_entry((*list)[i], where);
            CniIp ip;
            ip.address = cidr_field(e, "address", where);
            ip.gateway = address_field(e, "gateway", where);
            if (auto it = e.find("interface"); it != e.end() && !it->is_null()) {
                if (!it->is_number_unsigned() || it->get<uint64_t>() >= result.interfaces.size())
                    throw Error(where + ": \"interface\" is not an index into \"interfaces\"");
                ip.interface = it->get<size_t>();
            }
            result.ips.push_back(std::move(ip));
        }
    }
    if (const json* list = array_field(j, "routes", kMaxRoutes, "the result's ")) {
        for (size_t i = 0; i < list->size(); ++i) {
            std::string where = "routes[" + std::to_string(i) + "]";
            const json& e = object_entry((*list)[i], where);
            result.routes.push_back({cidr_field(e, "dst", where), address_field(e, "gw", where)});
        }
    }
    if (auto dns = j.find("dns"); dns != j.end() && !dns->is_null()) {
        const json& d = object_entry(*dns, "\"dns\"");
        result.dns.nameservers = string_list(d, "nameservers", "dns ");
        for (const auto& ns : result.dns.nameservers)
            if (!is_ip_address(ns))
                throw Error("dns: nameserver \"" + strings::printable(ns) +
                            "\" is not an IP address");
        result.dns.domain = string_field(d, "domain", "dns");
        result.dns.search = string_list(d, "search", "dns ");
        result.dns.options = string_list(d, "options", "dns ");
    }
    result.raw = j;
    return result;
}

}  // namespace rkt::net
