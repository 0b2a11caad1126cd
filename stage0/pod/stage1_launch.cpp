#include "stage0/pod/stage1_launch.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/process.h"

extern char** environ;

namespace rkt {

void exec_stage1_run(const Stage1& stage1, const std::filesystem::path& pod_dir,
                     const std::string& uuid, UniqueFd lock_fd, const RunOptions& o) {
    std::string entry = stage1.entrypoint("run").string();
    std::vector<std::string> argv = {entry};
    if (o.debug) argv.push_back("--debug");
    std::string net;
    for (size_t i = 0; i < o.net.size(); ++i) net += (i ? "," : "") + o.net[i];
    argv.push_back("--net=" + (net.empty() ? std::string("default") : net));
    if (o.interactive) argv.push_back("--interactive");
    if (!o.private_users.empty()) argv.push_back("--private-users=" + o.private_users);
    if (!o.hostname.empty()) argv.push_back("--hostname=" + o.hostname);
    for (const auto& name : o.insecure_options) {
        if (name == "capabilities") argv.push_back("--disable-capabilities-restriction");
        if (name == "paths") argv.push_back("--disable-paths");
        if (name == "seccomp") argv.push_back("--disable-seccomp");
    }
    if (!o.engine.empty()) argv.push_back("--engine=" + o.engine);
    argv.push_back(uuid);

    if (::chdir(pod_dir.c_str()) != 0) throw system_error("cannot enter pod directory");
    // The lock must survive exec: stage1 keeps it for the pod's whole life.
    int fd = lock_fd.release();
    int flags = ::fcntl(fd, F_GETFD);
    ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
    ::setenv("RKT_LOCK_FD", std::to_string(fd).c_str(), 1);

    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    log::debug("exec " + entry);
    ::execv(entry.c_str(), cargv.data());
    throw system_error("cannot execute stage1 " + entry);
}

int run_stage1_entrypoint(const Stage1& stage1, const std::string& which,
                          const std::filesystem::path& pod_dir,
                          const std::vector<std::string>& args) {
    std::vector<std::string> argv = {stage1.entrypoint(which).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    SpawnOptions opts;
    opts.cwd = pod_dir.string();
    opts.null_stdin = true;
    return run_command(argv, opts).exit_code;
}

}  // namespace rkt
