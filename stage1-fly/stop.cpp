// The fly stage1's `stop`: SIGTERM to the app, SIGKILL after the grace time (--force: at once).
#include "common/error.h"
#include "common/main_wrapper.h"
#include "common/pod_files.h"
#include "common/stage1_args.h"

int main(int argc, char** argv) {
    return rkt::run_main("stage1", [&] {
        auto args = rkt::parse_stage1_stop_args(argc, argv);
        auto pod_dir = std::filesystem::current_path();
        auto pid = rkt::pod_files::read_pid(pod_dir);
        if (!pid) throw rkt::Error("the pod has not started its app yet (no pid file)");
        rkt::pod_files::signal_pod(pod_dir, *pid, args.force);
        return 0;
    });
}
