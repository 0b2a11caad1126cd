// stage1 `stop` (nspawn): SIGTERM to the pod init, which stops the apps (SIGKILL after the grace
// time); --force sends SIGKILL, which ends the whole PID namespace at once.
#include <signal.h>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "common/log.h"
#include "common/main_wrapper.h"
#include "stage1-nspawn/pod.h"

namespace {

int stop(int argc, char** argv) {
    bool force = false;
    std::string uuid;
    CLI::App app{"nspawn stage1 stop"};
    app.add_flag("--force", force);
    app.add_option("uuid", uuid)->required();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        throw rkt::Error(std::string("bad arguments: ") + e.what());
    }
    rkt::nspawn::Pod pod = rkt::nspawn::Pod::open_current(uuid, false);
    auto pid = pod.running_init_pid();
    if (!pid) return 0;  // already over
    if (::kill(*pid, force ? SIGKILL : SIGTERM) != 0 && errno != ESRCH)
        throw rkt::system_error("cannot signal the pod init (pid " + std::to_string(*pid) + ")");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return rkt::run_main("stage1", [&] { return stop(argc, argv); });
}
