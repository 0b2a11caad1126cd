// The fly stage1's `run`: one app, chrooted into its image, sharing the host's namespaces.
// This process stays as the app's parent so it can record the app's exit status; it forwards
// termination signals to the app.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/log.h"
#include "common/main_wrapper.h"
#include "common/pod_files.h"
#include "common/process.h"
#include "common/run_options.h"
#include "common/safe_path.h"
#include "common/stage1_args.h"
#include "stage1-fly/app_root.h"

extern char** environ;

namespace {

volatile pid_t g_app_pid = -1;

void forward_signal(int sig) {
    if (g_app_pid > 0) ::kill(g_app_pid, sig);
}

[[noreturn]] void child_fail(const std::string& message, int code) {
    std::string line = "stage1: " + message + "\n";
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
    ::_exit(code);
}

// Runs in the child: builds the app's root, becomes the app's user and execs it.
[[noreturn]] void start_app(const std::filesystem::path& pod_dir, const rkt::PodManifest& pod,
                            const rkt::RuntimeApp& app, const rkt::RunOptions& options) {
    try {
        if (::unshare(CLONE_NEWNS) != 0) throw rkt::system_error("cannot create a mount namespace");
        if (::mount("", "/", nullptr, MS_SLAVE | MS_REC, nullptr) != 0)
            throw rkt::system_error("cannot make / a slave mount");
        rkt::fly::build_app_root(pod_dir, pod, app, options);
        auto root = rkt::fly::app_root_path(pod_dir, app.name);
        {
            rkt::UniqueFd root_fd = rkt::fs::open_dir(root);
            rkt::safe_path::make_dirs_beneath(root_fd.get(), app.app.working_directory);
        }
        if (!options.interactive) {
            int devnull = ::open("/dev/null", O_RDONLY);
            if (devnull < 0 || ::dup2(devnull, STDIN_FILENO) < 0)
                throw rkt::system_error("cannot redirect stdin");
        }
        if (::chroot(root.c_str()) != 0) throw rkt::system_error("cannot chroot into the app");
        if (::chdir(app.app.working_directory.c_str()) != 0)
            throw rkt::system_error("cannot enter working directory " + app.app.working_directory);
        std::vector<gid_t> groups(app.app.supplementary_gids.begin(),
                                  app.app.supplementary_gids.end());
        gid_t gid = static_cast<gid_t>(std::stoul(app.app.group));
        uid_t uid = static_cast<uid_t>(std::stoul(app.app.user));
        if (::setgroups(groups.size(), groups.data()) != 0)
            throw rkt::system_error("cannot set groups");
        if (::setgid(gid) != 0) throw rkt::system_error("cannot set gid");
        if (::setuid(uid) != 0) throw rkt::system_error("cannot set uid");
    } catch (const rkt::Error& e) {
        child_fail(e.what(), rkt::kErrorExitCode);
    }
    std::vector<std::string> env_strings;
    env_strings.reserve(app.app.environment.size());
    for (const auto& e : app.app.environment) env_strings.push_back(e.name + "=" + e.value);
    std::vector<char*> envp;
    envp.reserve(env_strings.size() + 1);
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = app.app.exec;
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    environ = envp.data();  // execvp searches the app's PATH, not ours
    ::execvp(argv[0], argv.data());
    int err = errno;
    child_fail("cannot execute " + args[0] + ": " + std::strerror(err), err == ENOENT ? 127 : 126);
}

}  // namespace

int main(int argc, char** argv) {
    return rkt::run_main("stage1", [&] {
        auto args = rkt::parse_stage1_run_args(argc, argv);
        rkt::log::set_debug(args.debug);
        if (!args.private_users.empty())
            throw rkt::Error(
                "--private-users is not supported by the fly stage1 (it shares the "
                "host's namespaces); use --stage1=nspawn");
        // The pod lock stays in this process only: the app must not hold an fd of the pod dir.
        ::fcntl(args.lock_fd, F_SETFD, FD_CLOEXEC);
        std::filesystem::path pod_dir = std::filesystem::current_path();
        rkt::PodManifest pod = rkt::pod_files::read_manifest(pod_dir);
        rkt::RunOptions options = rkt::load_run_options(pod_dir.string());
        if (args.interactive) options.interactive = true;
        // stage0 refuses these before the pod is prepared; a pod directory that asks for them
        // anyway must not start with its network silently other than asked.
        if (!(args.net.empty() || (args.net.size() == 1 && args.net[0] == "host")))
            throw rkt::Error(
                "the fly stage1 has no network of its own: it shares the host's (drop --net, or "
                "use --net=host)");
        if (!options.ports.empty())
            throw rkt::Error(
                "--port does not work with the fly stage1: its app shares the host's network "
                "(drop --port)");
        if (pod.apps.size() != 1)
            throw rkt::Error("the fly stage1 runs exactly one app; this pod has " +
                             std::to_string(pod.apps.size()));
        const rkt::RuntimeApp& app = pod.apps.front();
        if (app.app.exec.empty() || app.app.exec.front().empty())
            throw rkt::Error("app " + app.name + " has nothing to execute");
        // stage0 refuses these for fly before any image work; a pod prepared otherwise (an older
        // rkt, a hand-made pod directory) must not start with its isolation silently dropped.
        if (!app.app.isolators.empty() || !pod.isolators.empty())
            throw rkt::Error(
                "the fly stage1 applies no isolators (it runs the app chrooted, with "
                "the host's privileges): the pod asks for " +
                (app.app.isolators.empty() ? pod.isolators : app.app.isolators).front().name +
                "; use --stage1=nspawn or --stage1=kvm");

        struct sigaction sa {};
        sa.sa_handler = forward_signal;
        ::sigemptyset(&sa.sa_mask);
        for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, nullptr);

        pid_t pid = ::fork();
        if (pid < 0) throw rkt::system_error("cannot fork");
        if (pid == 0) {
            struct sigaction dfl {};
            dfl.sa_handler = SIG_DFL;
            for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) ::sigaction(sig, &dfl, nullptr);
            start_app(pod_dir, pod, app, options);
        }
        g_app_pid = pid;
        rkt::pod_files::write_pid(pod_dir, pid);
        int status = 0;
        if (rkt::io::retry_eintr([&] { return ::waitpid(pid, &status, 0); }) < 0)
            throw rkt::system_error("cannot wait for the app");
        int code = rkt::exit_code_from_wait_status(status);
        rkt::pod_files::write_app_status(pod_dir, app.name, code);
        return code;
    });
}
