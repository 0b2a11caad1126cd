#include "common/pod_files.h"

#include <signal.h>

#include <thread>

#include "common/error.h"
#include "common/file_lock.h"
#include "common/fs.h"
#include "common/strings.h"

namespace rkt::pod_files {

PodManifest read_manifest(const stdfs::path& pod_dir) {
    return with_context("cannot read the pod manifest", [&] {
        return PodManifest::parse(fs::read_file_limited(pod_dir / "pod", 16 << 20));
    });
}

void write_pid(const stdfs::path& pod_dir, pid_t pid) {
    fs::write_file_atomic(pod_dir / "pid", std::to_string(pid) + "\n", 0644,
                          fs::Durability::kAtomicOnly);
}

std::optional<pid_t> read_pid(const stdfs::path& pod_dir) {
    auto text = fs::read_file_if_exists(pod_dir / "pid");
    if (!text) return std::nullopt;
    std::string t = strings::trim(*text);
    if (!strings::is_decimal(t) || t.size() > 9) return std::nullopt;
    return static_cast<pid_t>(std::stol(t));
}

void write_app_status(const stdfs::path& pod_dir, const std::string& app, int exit_code) {
    fs::make_dirs(pod_dir / "status");
    fs::write_file_atomic(pod_dir / "status" / app, std::to_string(exit_code), 0644,
                          fs::Durability::kAtomicOnly);
}

void write_app_end_reason(const stdfs::path& pod_dir, const std::string& app,
                          std::string_view reason) {
    fs::make_dirs(pod_dir / "status");
    fs::write_file_atomic(pod_dir / "status" / (app + ".reason"), std::string(reason), 0644,
                          fs::Durability::kAtomicOnly);
}

std::optional<std::string> read_app_end_reason(const stdfs::path& pod_dir, const std::string& app) {
    try {
        stdfs::path path = pod_dir / "status" / (app + ".reason");
        if (!stdfs::is_regular_file(stdfs::symlink_status(path))) return std::nullopt;
        std::string word = strings::trim(fs::read_file_limited(path, 64));
        // Only what a stage1 writes is passed on: the file is in a directory the pod may own.
        if (word.empty() ||
            word.find_first_not_of("abcdefghijklmnopqrstuvwxyz-") != std::string::npos)
            return std::nullopt;
        return word;
    } catch (const Error&) {
        return std::nullopt;
    }
}

stdfs::path app_log_path(const stdfs::path& pod_dir, const std::string& app) {
    return pod_dir / "logs" / (app + ".log");
}

static stdfs::path resolve_link(const stdfs::path& link, const std::string& what) {
    std::error_code ec;
    stdfs::path target = stdfs::read_symlink(link, ec);
    if (ec) throw Error("pod is missing the " + what + " (" + link.string() + ")");
    return target;
}

stdfs::path app_image_tree(const stdfs::path& pod_dir, const std::string& app) {
    return resolve_link(pod_dir / "appsinfo" / app / "rootfs", "image tree of app " + app);
}

stdfs::path app_image_erofs(const stdfs::path& pod_dir, const std::string& app) {
    return resolve_link(pod_dir / "appsinfo" / app / "image.erofs", "image of app " + app);
}

bool pod_is_alive(const stdfs::path& pod_dir) {
    FileLock probe = FileLock::try_acquire(pod_dir, FileLock::Mode::kShared);
    return !probe.valid();
}

void signal_pod(const stdfs::path& pod_dir, pid_t pid, bool force,
                std::chrono::milliseconds grace) {
    using namespace std::chrono_literals;
    if (!pod_is_alive(pod_dir)) return;  // its pid may belong to someone else by now
    if (!force) {
        if (::kill(pid, SIGTERM) != 0 && errno != ESRCH)
            throw system_error("cannot signal the pod");
        auto deadline = std::chrono::steady_clock::now() + grace;
        while (std::chrono::steady_clock::now() < deadline) {
            if (!pod_is_alive(pod_dir)) return;
            std::this_thread::sleep_for(50ms);
        }
    }
    if (pod_is_alive(pod_dir) && ::kill(pid, SIGKILL) != 0 && errno != ESRCH)
        throw system_error("cannot kill the pod");
    for (int i = 0; i < 100 && pod_is_alive(pod_dir); ++i) std::this_thread::sleep_for(50ms);
}

}  // namespace rkt::pod_files
