// stage1 `gc` (kvm): stage0 runs it holding the pod's lock, so the pod's run process is gone.
// A kvm pod keeps almost nothing outside its directory: its VMM (QEMU or the built-in VMM's
// process) dies with the run process (parent-death signal), its jail is a mount namespace that
// goes with the VMM, and its VMM user id is a lock the kernel released. As a safety net gc ends
// the VMM recorded in vmm.json if it still runs (same pid, start time and VMM uid), and removes
// a control socket a killed run left behind, and gives back the pod's networks (CNI DEL, then
// its network namespace) if run could not.
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>

#include "common/error.h"
#include "common/io.h"
#include "common/log.h"
#include "common/main_wrapper.h"
#include "common/run_options.h"
#include "common/stage1_args.h"
#include "common/unique_fd.h"
#include "network/pod_network.h"
#include "network/stage1_networking.h"
#include "stage1-kvm/control_socket.h"
#include "stage1-kvm/vmm_record.h"
#include "vmm/vmm_user.h"

namespace {

using namespace rkt;
namespace stdfs = std::filesystem;

constexpr int kVmmExitTimeoutMs = 10'000;

// Ends the recorded VMM if it is still the same process; true when there was one.
bool end_leftover_vmm(const stdfs::path& pod_dir, const std::string& uuid) {
    auto record = kvm::read_vmm_record(pod_dir);
    // Only a VMM user's process: whatever the file says, gc never kills anything else.
    if (!record || !vmm::is_vmm_id(record->uid)) return false;
    // The pidfd pins the process: checked after it is open, the pid cannot be reused under us.
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, record->pid, 0)));
    if (!pidfd || !kvm::is_running(*record)) return false;
    log::info("ending the VMM (pid " + std::to_string(record->pid) + ") left behind by pod " +
              uuid);
    if (::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0) != 0)
        throw system_error("cannot end the VMM of pod " + uuid);
    // Gone before stage0 removes the pod directory: it holds the pod's disks and 9p shares.
    pollfd p{pidfd.get(), POLLIN, 0};
    if (io::retry_eintr([&] { return ::poll(&p, 1, kVmmExitTimeoutMs); }) != 1)
        throw Error("the VMM of pod " + uuid + " (pid " + std::to_string(record->pid) +
                    ") did not end within " + std::to_string(kVmmExitTimeoutMs / 1000) +
                    " s of SIGKILL");
    return true;
}

int gc(int argc, char** argv) {
    Stage1GcArgs args = parse_stage1_gc_args(argc, argv);
    log::set_debug(args.debug);
    stdfs::path pod_dir = stdfs::current_path();
    if (pod_dir.filename() != args.uuid)
        throw Error("the current directory is not the directory of pod " + args.uuid);
    end_leftover_vmm(pod_dir, args.uuid);
    ::unlink(kvm::kControlSocketName);
    // After the VMM: its taps are gone, the CNI DELs find only the veths.
    net::detach_networks(pod_dir, load_run_options(pod_dir.string()).cni_path,
                         net::plugin_timeout());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return rkt::run_main("stage1", [&] { return gc(argc, argv); });
}
