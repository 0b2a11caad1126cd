// stage1 `gc` (kvm): a kvm pod keeps nothing outside its directory — its VM lives in the run
// process (or its QEMU child, which dies with it). As a safety net gc ends any QEMU still working
// in the pod directory, and removes a control socket a killed run left behind.
#include <signal.h>
#include <unistd.h>

#include <filesystem>

#include "common/error.h"
#include "common/log.h"
#include "common/main_wrapper.h"
#include "common/pod_files.h"
#include "common/stage1_args.h"
#include "stage1-kvm/control_socket.h"

namespace {

using namespace rkt;
namespace stdfs = std::filesystem;

int gc(int argc, char** argv) {
    Stage1GcArgs args = parse_stage1_gc_args(argc, argv);
    log::set_debug(args.debug);
    stdfs::path pod_dir = stdfs::current_path();
    if (pod_dir.filename() != args.uuid)
        throw Error("the current directory is not the directory of pod " + args.uuid);
    if (pod_files::pod_is_alive(pod_dir))
        throw Error("pod " + args.uuid + " is still running; stop it first");
    std::error_code ec;
    for (const auto& entry : stdfs::directory_iterator("/proc", ec)) {
        std::string name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        if (std::stoi(name) == ::getpid()) continue;
        std::error_code e1, e2;
        stdfs::path cwd = stdfs::read_symlink(entry.path() / "cwd", e1);
        stdfs::path exe = stdfs::read_symlink(entry.path() / "exe", e2);
        if (e1 || e2 || cwd != pod_dir) continue;
        if (exe.filename().string().rfind("qemu-system-", 0) != 0) continue;
        log::info("ending QEMU (pid " + name + ") left behind by pod " + args.uuid);
        ::kill(std::stoi(name), SIGKILL);
    }
    ::unlink(kvm::kControlSocketName);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return rkt::run_main("stage1", [&] { return gc(argc, argv); });
}
