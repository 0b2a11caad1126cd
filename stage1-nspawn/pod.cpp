#include "stage1-nspawn/pod.h"

#include <signal.h>
#include <unistd.h>

#include <cctype>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"
#include "common/uuid.h"

namespace rkt::nspawn {

using nlohmann::json;

namespace {

constexpr size_t kMaxPodFile = size_t{16} << 20;

}  // namespace

Pod Pod::open_current(const std::string& uuid, bool load_manifest) {
    if (!is_valid_uuid(uuid)) throw Error("\"" + uuid + "\" is not a pod UUID");
    Pod pod;
    pod.dir_ = stdfs::current_path();
    if (pod.dir_.filename() != uuid)
        throw Error("the current directory " + pod.dir_.string() + " is not the directory of pod " +
                    uuid + " (entrypoints run in the pod directory)");
    pod.uuid_ = uuid;
    if (!load_manifest) return pod;
    pod.manifest_ = with_context("pod manifest", [&] {
        return PodManifest::parse(fs::read_file_limited(pod.dir_ / "pod", kMaxPodFile));
    });
    if (pod.manifest_.apps.empty()) throw Error("the pod has no apps");
    pod.options_ = load_run_options(pod.dir_.string());
    return pod;
}

const RuntimeApp& Pod::app(const std::string& name) const {
    const RuntimeApp* a = manifest_.find_app(name);
    if (!a) throw Error("the pod has no app named \"" + name + "\"");
    return *a;
}

stdfs::path Pod::app_tree(const std::string& name) const {
    stdfs::path link = dir_ / "appsinfo" / name / "rootfs";
    std::error_code ec;
    stdfs::path real = stdfs::canonical(link, ec);
    if (ec || !stdfs::is_directory(real, ec))
        throw Error("app \"" + name + "\": " + link.string() +
                    " is not a directory (stage0 links it to the rendered image or copies it)");
    return real;
}

bool Pod::app_tree_is_copy(const std::string& name) const {
    std::error_code ec;
    auto st = stdfs::symlink_status(dir_ / "appsinfo" / name / "rootfs", ec);
    return !ec && st.type() == stdfs::file_type::directory;
}

std::optional<pid_t> Pod::running_init_pid() const {
    auto text = fs::read_file_if_exists(pid_file());
    if (!text) return std::nullopt;
    std::string t = strings::trim(*text);
    if (!strings::is_decimal(t) || t.size() > 9) throw Error(pid_file().string() + " is malformed");
    pid_t pid = static_cast<pid_t>(std::stol(t));
    if (pid <= 1) throw Error(pid_file().string() + " is malformed");
    // The pod init lives in the pod's `pod-init` cgroup, whose path holds the pod's UUID (its
    // root and working directory are an empty tmpfs of its own); `run` also works in the pod
    // directory. A process that merely reuses the number is neither.
    auto cgroups = fs::read_file_if_exists("/proc/" + t + "/cgroup");
    if (!cgroups) return std::nullopt;  // gone
    if (cgroups->find("/rkt-" + uuid_ + "/pod-init\n") != std::string::npos) return pid;
    std::error_code ec;
    stdfs::path cwd = stdfs::read_symlink("/proc/" + t + "/cwd", ec);
    if (!ec && cwd == dir_) return pid;
    return std::nullopt;
}

std::string default_hostname(const std::string& uuid) {
    return "rkt-" + uuid;
}

bool is_valid_hostname(const std::string& name) {
    if (name.empty() || name.size() > 64) return false;
    for (const auto& label : strings::split(name, '.')) {
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (char c : label)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    return true;
}

}  // namespace rkt::nspawn
