// stage1 `stop` (kvm): asks the pod's run process, over its control socket, to stop the apps
// gracefully (SIGTERM, SIGKILL after the grace time; then the VM ends) or, with --force, to end
// the VM at once; then waits for the pod to be over. A run process that does not answer is
// signalled instead (SIGTERM, then SIGKILL, which takes QEMU with it).
#include <chrono>
#include <thread>

#include "common/error.h"
#include "common/guest_protocol.h"
#include "common/main_wrapper.h"
#include "common/pod_files.h"
#include "common/stage1_args.h"
#include "stage1-kvm/control_socket.h"

namespace {

using namespace rkt;
using namespace std::chrono_literals;

bool wait_until_over(const std::filesystem::path& pod_dir, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!pod_files::pod_is_alive(pod_dir)) return true;
        std::this_thread::sleep_for(50ms);
    }
    return !pod_files::pod_is_alive(pod_dir);
}

int stop(int argc, char** argv) {
    Stage1StopArgs args = parse_stage1_stop_args(argc, argv);
    std::filesystem::path pod_dir = std::filesystem::current_path();
    if (pod_dir.filename() != args.uuid)
        throw Error("the current directory is not the directory of pod " + args.uuid);
    // The control socket appears a moment after the pod's lock is taken.
    UniqueFd control;
    for (int i = 0; i < 100 && pod_files::pod_is_alive(pod_dir); ++i) {
        control = kvm::connect_control_socket();
        if (control) break;
        std::this_thread::sleep_for(50ms);
    }
    if (!pod_files::pod_is_alive(pod_dir)) return 0;  // already over
    if (control) {
        guest::FrameWriter writer;
        try {
            writer.write(control.get(), guest::StopPod{args.force});
        } catch (const Error&) {
            // The run process went away meanwhile; checked below.
        }
        // The run process kills the VM itself once the grace time (10 s) and a margin are
        // over; this is only the wait for that.
        if (wait_until_over(pod_dir, args.force ? 15s : 40s)) return 0;
    }
    auto pid = pod_files::read_pid(pod_dir);
    if (!pid) throw Error("pod " + args.uuid + " does not answer and has no pid file");
    pod_files::signal_pod(pod_dir, *pid, args.force);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return rkt::run_main("stage1", [&] { return stop(argc, argv); });
}
