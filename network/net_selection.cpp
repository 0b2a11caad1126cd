#include "network/net_selection.h"

#include <cctype>
#include <set>

#include "common/error.h"
#include "common/strings.h"
#include "network/addresses.h"

namespace rkt::net {

namespace {

constexpr size_t kMaxArgsLength = 4096;

// "K=V;K2=V2": every pair has a key of letters, digits and '_' and no ',' (it ends the entry).
// Returns the value of IP=, checked.
std::string check_args(const std::string& name, const std::string& args) {
    if (args.empty()) throw Error("--net=" + name + ": empty argument list after ':'");
    if (args.size() > kMaxArgsLength)
        throw Error("--net=" + name + ": arguments longer than " + std::to_string(kMaxArgsLength) +
                    " characters");
    std::string ip;
    std::set<std::string> keys;
    for (const auto& pair : strings::split(args, ';')) {
        auto eq = pair.find('=');
        std::string key = pair.substr(0, eq);
        bool key_ok = !key.empty() && eq != std::string::npos;
        for (char c : key)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') key_ok = false;
        if (!key_ok)
            throw Error("--net=" + name + ": malformed argument \"" + strings::printable(pair) +
                        "\" (expected KEY=VALUE pairs separated by ';')");
        for (char c : pair)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                throw Error("--net=" + name + ": argument \"" + strings::printable(pair) +
                            "\" holds a control character");
        if (!keys.insert(key).second)
            throw Error("--net=" + name + ": argument " + key + " given twice");
        if (key == "IP") {
            ip = pair.substr(eq + 1);
            if (!is_ip_address(ip))
                throw Error("--net=" + name + ": IP=" + strings::printable(ip) +
                            " is not an IPv4 or IPv6 address");
        }
    }
    return ip;
}

}  // namespace

bool is_valid_network_name(std::string_view name) {
    if (name.empty() || name.size() > 128) return false;
    if (!std::isalnum(static_cast<unsigned char>(name[0]))) return false;
    for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
            return false;
    return true;
}

NetSelection parse_net_selection(const std::vector<std::string>& values) {
    std::vector<std::string> entries;
    for (const auto& value : values)
        for (auto& entry : strings::split(value, ','))
            if (!entry.empty()) entries.push_back(entry);
    NetSelection selection;
    if (entries.empty()) {
        selection.networks.push_back({"default", "", ""});
        return selection;
    }
    std::set<std::string> seen;
    for (const auto& entry : entries) {
        auto colon = entry.find(':');
        NetRequest request;
        request.name = entry.substr(0, colon);
        if (request.name == "host" || request.name == "none") {
            if (entries.size() > 1)
                throw Error("--net=" + request.name + " cannot be combined with other networks");
            if (colon != std::string::npos)
                throw Error("--net=" + request.name + " takes no arguments");
            selection.kind =
                request.name == "host" ? NetSelection::Kind::kHost : NetSelection::Kind::kNone;
            return selection;
        }
        if (!is_valid_network_name(request.name))
            throw Error("--net: \"" + strings::printable(request.name) +
                        "\" is not a valid network name (letters, digits, '_', '.' and '-', "
                        "starting with a letter or digit)");
        if (!seen.insert(request.name).second)
            throw Error("--net: network " + request.name + " is given twice");
        if (colon != std::string::npos) {
            request.args = entry.substr(colon + 1);
            request.ip = check_args(request.name, request.args);
        }
        selection.networks.push_back(std::move(request));
    }
    return selection;
}

}  // namespace rkt::net
