// stage1 `gc` (nspawn): releases what the pod held outside its directory: its cgroups (and,
// with CNI, its network). Mounts need nothing: they lived in the pod's own mount namespaces.
#include <CLI/CLI.hpp>

#include "common/error.h"
#include "common/log.h"
#include "common/main_wrapper.h"
#include "stage1-nspawn/cgroups.h"
#include "stage1-nspawn/network.h"
#include "stage1-nspawn/pod.h"

namespace {

int gc(int argc, char** argv) {
    bool debug = false;
    std::string uuid, ignored;
    CLI::App app{"nspawn stage1 gc"};
    app.add_flag("--debug", debug);
    app.add_option("--local-config", ignored);
    app.add_option("uuid", uuid)->required();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        throw rkt::Error(std::string("bad arguments: ") + e.what());
    }
    rkt::log::set_debug(debug);
    rkt::nspawn::Pod pod = rkt::nspawn::Pod::open_current(uuid, false);
    if (pod.running_init_pid())
        throw rkt::Error("pod " + uuid + " is still running; stop it first");
    rkt::nspawn::network::teardown(pod);
    rkt::nspawn::PodCgroups::load(pod.cgroups_file()).remove();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return rkt::run_main("stage1", [&] { return gc(argc, argv); });
}
