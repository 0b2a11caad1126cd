// Fuzz target for what pod networking reads from outside rkt: a CNI plugin's output (its ADD
// result, parsed and then saved in net-info.json, which `rkt list` reads back), the --net list,
// and a network config file under net.d.
//
// Input: byte 0 selects the reader (0: plugin output, 1: --net values, one per line, 2: a
// .conflist or .conf file), the rest is the text.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"
#include "network/cni_result.h"
#include "network/json_input.h"
#include "network/net_config.h"
#include "network/net_selection.h"
#include "network/pod_network.h"

namespace {

namespace stdfs = std::filesystem;

void remove_dirs();

// <tmp>/local/net.d and <tmp>/system, made once per process.
const stdfs::path& scratch() {
    static const stdfs::path dir = [] {
        std::string tmpl = (stdfs::temp_directory_path() / "rkt-cni-fuzz-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) std::abort();
        stdfs::create_directories(stdfs::path(tmpl) / "local" / "net.d");
        stdfs::create_directories(stdfs::path(tmpl) / "system");
        return stdfs::path(tmpl);
    }();
    static const bool registered = (std::atexit(remove_dirs), true);
    (void)registered;
    return dir;
}

void remove_dirs() {
    std::error_code ec;
    stdfs::remove_all(scratch(), ec);
}

void plugin_output(const std::string& text) {
    try {
        rkt::net::CniResult r =
            rkt::net::parse_cni_result(rkt::net::parse_untrusted_json(text, "plugin output"));
        // Whatever is accepted is summarized as `rkt status` would.
        rkt::net::AttachedNetwork a;
        a.net_name = "fuzz";
        a.result = r;
        for (const auto& ip : r.ips)
            if (ip.address.find('.') != std::string::npos)
                a.ip = ip.address.substr(0, ip.address.find('/'));
        (void)rkt::net::networks_summary({a}, ",");
    } catch (const rkt::Error&) {
    }
}

void net_values(const std::string& text) {
    try {
        (void)rkt::net::parse_net_selection(rkt::strings::split(text, '\n'));
    } catch (const rkt::Error&) {
    }
}

void config_file(const std::string& text) {
    const stdfs::path file = scratch() / "local" / "net.d" / "10-fuzz.conflist";
    rkt::fs::write_file(file, text);
    try {
        auto configs = rkt::net::load_network_configs(
            {scratch() / "local", scratch() / "system", scratch() / "ipam"});
        for (const auto& [name, config] : configs)
            if (!config.list.contains("plugins") || !config.list["plugins"].is_array())
                std::abort();
    } catch (const rkt::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 3) {
        case 0:
            plugin_output(text);
            break;
        case 1:
            net_values(text);
            break;
        default:
            config_file(text);
            break;
    }
    return 0;
}
