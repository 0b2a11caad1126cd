#include "stage1-nspawn/cgroups.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/device_filter.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"

namespace rkt::nspawn {
namespace {

constexpr uint64_t kCpuPeriodUs = 100000;
// The controllers used on v1, in lookup order: the first one found tracks the pod's processes.
constexpr const char* kV1Controllers[] = {"memory", "pids", "cpu", "devices"};

struct MountEntry {
    std::string mountpoint;
    std::string fstype;
    std::vector<std::string> super_options;
};

std::vector<MountEntry> parse_mountinfo(const std::string& text) {
    std::vector<MountEntry> out;
    for (const auto& line : strings::split(text, '\n')) {
        auto fields = strings::split(line, ' ');
        auto dash = std::find(fields.begin(), fields.end(), "-");
        if (fields.size() < 5 || dash == fields.end() || fields.end() - dash < 4) continue;
        out.push_back({fields[4], *(dash + 1), strings::split(*(dash + 3), ',')});
    }
    return out;
}

// "/proc/self/cgroup" lines: hierarchy-id:controllers:path.
std::optional<std::string> caller_path(const std::string& self_cgroup,
                                       const std::string& controller) {
    for (const auto& line : strings::split(self_cgroup, '\n')) {
        auto first = line.find(':');
        auto second = line.find(':', first + 1);
        if (first == std::string::npos || second == std::string::npos) continue;
        auto controllers = strings::split(line.substr(first + 1, second - first - 1), ',');
        bool match = controller.empty() ? line.substr(first + 1, second - first - 1).empty()
                                        : std::find(controllers.begin(), controllers.end(),
                                                    controller) != controllers.end();
        if (match) return line.substr(second + 1);
    }
    return std::nullopt;
}

stdfs::path under(const stdfs::path& root, const std::string& mountpoint, const std::string& path) {
    stdfs::path p = root;
    std::string joined = mountpoint;
    joined += '/';
    joined += path;
    for (const auto& part : strings::split(joined, '/'))
        if (!part.empty()) {
            if (part == "..") throw Error("unexpected \"..\" in a cgroup path");
            p /= part;
        }
    return p;
}

void write_value(const stdfs::path& file, const std::string& value) {
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw system_error("cannot open " + file.string());
    if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
        throw system_error("cannot write \"" + value + "\" to " + file.string());
}

bool file_exists(const stdfs::path& p) {
    std::error_code ec;
    return stdfs::exists(p, ec);
}

void make_dir(const stdfs::path& dir) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        throw system_error("cannot create the cgroup " + dir.string());
}

// Applies limits to one cgroup directory; returns which of them it could apply.
void apply_limits(const stdfs::path& dir, bool v2, const CgroupLimits& limits, bool* memory_done,
                  bool* cpu_done, bool* shares_done, bool* pids_done) {
    if (limits.pids_max && file_exists(dir / "pids.max")) {
        write_value(dir / "pids.max", std::to_string(*limits.pids_max));
        *pids_done = true;
    }
    if (limits.memory_bytes) {
        stdfs::path file = dir / (v2 ? "memory.max" : "memory.limit_in_bytes");
        if (file_exists(file)) {
            write_value(file, std::to_string(*limits.memory_bytes));
            *memory_done = true;
        }
    }
    if (limits.cpu_millis) {
        uint64_t quota = *limits.cpu_millis * kCpuPeriodUs / 1000;
        if (quota < 1000) quota = 1000;  // the kernel's minimum quota is 1 ms
        if (v2 && file_exists(dir / "cpu.max")) {
            write_value(dir / "cpu.max",
                        std::to_string(quota) + " " + std::to_string(kCpuPeriodUs));
            *cpu_done = true;
        } else if (!v2 && file_exists(dir / "cpu.cfs_quota_us")) {
            write_value(dir / "cpu.cfs_period_us", std::to_string(kCpuPeriodUs));
            write_value(dir / "cpu.cfs_quota_us", std::to_string(quota));
            *cpu_done = true;
        }
    }
    if (limits.cpu_shares) {
        if (v2 && file_exists(dir / "cpu.weight")) {
            // The mapping systemd and runc use from shares (2..262144) to weight (1..10000).
            uint64_t weight = 1 + ((*limits.cpu_shares - 2) * 9999) / 262142;
            write_value(dir / "cpu.weight", std::to_string(weight));
            *shares_done = true;
        } else if (!v2 && file_exists(dir / "cpu.shares")) {
            write_value(dir / "cpu.shares", std::to_string(*limits.cpu_shares));
            *shares_done = true;
        }
    }
}

void require_applied(const CgroupLimits& limits, bool memory_done, bool cpu_done, bool shares_done,
                     bool pids_done, const std::string& who, bool v2) {
    std::string hint = v2 ? " (on cgroup v2, start rkt in a cgroup of its own, e.g. with "
                            "systemd-run --scope, so that the controller can be enabled)"
                          : " (no cgroup v1 hierarchy with that controller is mounted)";
    if (limits.memory_bytes && !memory_done)
        throw Error("cannot limit the memory of " + who + ": no memory controller" + hint);
    if (limits.cpu_millis && !cpu_done)
        throw Error("cannot limit the CPU of " + who + ": no cpu controller" + hint);
    if (limits.cpu_shares && !shares_done)
        throw Error("cannot set the CPU shares of " + who + ": no cpu controller" + hint);
    if (limits.pids_max && !pids_done) {
        if (limits.pids_required)
            throw Error("cannot limit the number of tasks of " + who + ": no pids controller" +
                        hint);
        log::debug("no pids controller: the default pids limit of " + who + " is not applied");
    }
}

// The `key value` lines of a cgroup file (memory.events, memory.oom_control): the value of `key`.
std::optional<uint64_t> read_counter(const stdfs::path& file, const std::string& key) {
    auto text = fs::read_file_if_exists(file);
    if (!text) return std::nullopt;
    for (const auto& line : strings::split(*text, '\n')) {
        auto fields = strings::split(line, ' ');
        if (fields.size() == 2 && fields[0] == key && strings::is_decimal(fields[1]) &&
            fields[1].size() < 20)
            return std::stoull(fields[1]);
    }
    return std::nullopt;
}

std::vector<pid_t> read_pids(const stdfs::path& procs) {
    std::vector<pid_t> out;
    auto text = fs::read_file_if_exists(procs);
    if (!text) return out;
    for (const auto& line : strings::split(*text, '\n'))
        if (strings::is_decimal(line) && line.size() < 10) out.push_back(std::stoi(line));
    return out;
}

// Depth first: children before parents. Processes left in a cgroup are killed first.
void remove_tree(const stdfs::path& dir) {
    std::error_code ec;
    if (!stdfs::is_directory(dir, ec)) return;
    for (const auto& entry : stdfs::directory_iterator(dir, ec))
        if (entry.is_directory(ec)) remove_tree(entry.path());
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
        if (errno != EBUSY) throw system_error("cannot remove the cgroup " + dir.string());
        for (pid_t pid : read_pids(dir / "cgroup.procs")) ::kill(pid, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw Error("cannot remove the cgroup " + dir.string() + ": processes keep running in it");
}

}  // namespace

CgroupLayout PodCgroups::plan(const std::string& uuid, const std::string& mountinfo,
                              const std::string& self_cgroup, const stdfs::path& root) {
    CgroupLayout layout;
    const std::string leaf = "rkt-" + uuid;
    auto mounts = parse_mountinfo(mountinfo);
    for (const auto& m : mounts) {
        if (m.fstype == "cgroup2" && m.mountpoint == "/sys/fs/cgroup") {
            auto path = caller_path(self_cgroup, "");
            if (!path) throw Error("cannot find this process's cgroup v2 in /proc/self/cgroup");
            layout.v2 = true;
            layout.pod_dirs.push_back(under(root, m.mountpoint, *path) / leaf);
            return layout;
        }
    }
    for (const char* controller : kV1Controllers) {
        for (const auto& m : mounts) {
            if (m.fstype != "cgroup") continue;
            if (std::find(m.super_options.begin(), m.super_options.end(), controller) ==
                m.super_options.end())
                continue;
            auto path = caller_path(self_cgroup, controller);
            if (!path) continue;
            stdfs::path dir = under(root, m.mountpoint, *path) / leaf;
            if (std::find(layout.pod_dirs.begin(), layout.pod_dirs.end(), dir) ==
                layout.pod_dirs.end())
                layout.pod_dirs.push_back(dir);
            break;
        }
    }
    if (layout.pod_dirs.empty())
        throw Error(
            "no cgroup hierarchy is mounted (looked for cgroup2 at /sys/fs/cgroup and "
            "for the memory, pids and cpu controllers of cgroup v1)");
    return layout;
}

CgroupLayout PodCgroups::plan_for_this_process(const std::string& uuid) {
    return plan(uuid, fs::read_file("/proc/self/mountinfo"), fs::read_file("/proc/self/cgroup"));
}

PodCgroups PodCgroups::create(const CgroupLayout& layout, const std::vector<std::string>& apps,
                              const std::vector<CgroupLimits>& app_limits,
                              const CgroupLimits& pod_limits) {
    PodCgroups cg;
    cg.layout_ = layout;
    for (const auto& dir : layout.pod_dirs) {
        make_dir(dir);
        if (layout.v2) {
            // Best effort: a parent that has processes of its own cannot delegate controllers;
            // require_applied() reports it when a limit needs one.
            for (const char* c : {"+memory", "+cpu", "+pids"}) {
                try {
                    write_value(dir.parent_path() / "cgroup.subtree_control", c);
                    write_value(dir / "cgroup.subtree_control", c);
                } catch (const Error& e) {
                    log::debug(e.what());
                }
            }
        }
        make_dir(dir / "pod-init");
        for (const auto& app : apps) make_dir(dir / ("app-" + app));
    }
    bool memory_done = false, cpu_done = false, shares_done = false, pids_done = false;
    for (const auto& dir : layout.pod_dirs)
        apply_limits(dir, layout.v2, pod_limits, &memory_done, &cpu_done, &shares_done, &pids_done);
    require_applied(pod_limits, memory_done, cpu_done, shares_done, pids_done, "the pod",
                    layout.v2);
    for (size_t i = 0; i < apps.size() && i < app_limits.size(); ++i) {
        bool app_memory = false, app_cpu = false, app_shares = false, app_pids = false;
        for (const auto& dir : layout.pod_dirs)
            apply_limits(dir / ("app-" + apps[i]), layout.v2, app_limits[i], &app_memory, &app_cpu,
                         &app_shares, &app_pids);
        require_applied(app_limits[i], app_memory, app_cpu, app_shares, app_pids,
                        "app \"" + apps[i] + "\"", layout.v2);
    }
    return cg;
}

void PodCgroups::restrict_devices(const std::vector<std::string>& apps) const {
    for (const auto& app : apps) {
        with_context("cannot restrict the devices of app \"" + app + "\"", [&] {
            bool done = false;
            for (const auto& dir : layout_.pod_dirs) {
                stdfs::path leaf = dir / ("app-" + app);
                if (!layout_.v2 && !file_exists(leaf / "devices.allow")) continue;
                UniqueFd fd = fs::open_dir(leaf);
                if (layout_.v2)
                    device_filter::attach_v2(fd.get());
                else
                    device_filter::apply_v1(fd.get());
                done = true;
            }
            if (!done) throw Error("no cgroup v1 devices hierarchy is mounted");
        });
    }
}

PodCgroups PodCgroups::load(const stdfs::path& file) {
    PodCgroups cg;
    auto text = fs::read_file_if_exists(file);
    if (!text) return cg;
    auto lines = strings::split(*text, '\n');
    for (size_t i = 0; i < lines.size(); ++i) {
        const std::string line = strings::trim(lines[i]);
        if (line.empty()) continue;
        if (i == 0 && (line == "cgroup2" || line == "cgroup1")) {
            cg.layout_.v2 = line == "cgroup2";
            continue;
        }
        // Only paths this stage1 writes: absolute, under /sys/fs/cgroup, ending in rkt-<uuid>.
        stdfs::path p(line);
        bool sane = p.is_absolute() && line.rfind("/sys/fs/cgroup/", 0) == 0 &&
                    p.filename().string().rfind("rkt-", 0) == 0 &&
                    line.find("/../") == std::string::npos && line.find("/./") == std::string::npos;
        if (!sane) throw Error(file.string() + ": unexpected cgroup path \"" + line + "\"");
        cg.layout_.pod_dirs.push_back(p);
    }
    return cg;
}

void PodCgroups::save(const stdfs::path& file) const {
    std::string text = layout_.v2 ? "cgroup2\n" : "cgroup1\n";
    for (const auto& dir : layout_.pod_dirs) text += dir.string() + "\n";
    fs::write_file_atomic(file, text, 0644, fs::Durability::kAtomicOnly);
}

std::vector<stdfs::path> PodCgroups::join_files(const std::string& leaf) const {
    std::vector<stdfs::path> out;
    for (const auto& dir : layout_.pod_dirs)
        out.push_back(dir / leaf / (layout_.v2 ? "cgroup.procs" : "tasks"));
    return out;
}

std::vector<pid_t> PodCgroups::app_pids(const std::string& app) const {
    if (layout_.pod_dirs.empty()) return {};
    return read_pids(layout_.pod_dirs.front() / ("app-" + app) / "cgroup.procs");
}

std::optional<uint64_t> PodCgroups::app_oom_kills(const std::string& app) const {
    for (const auto& dir : layout_.pod_dirs) {
        stdfs::path leaf = dir / ("app-" + app);
        auto kills = layout_.v2 ? read_counter(leaf / "memory.events", "oom_kill")
                                : read_counter(leaf / "memory.oom_control", "oom_kill");
        if (kills) return kills;
    }
    return std::nullopt;
}

void PodCgroups::remove() const {
    for (const auto& dir : layout_.pod_dirs) remove_tree(dir);
}

bool join_cgroups(const std::vector<std::string>& join_files) noexcept {
    for (const auto& file : join_files) {
        int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) return false;
        ssize_t n = ::write(fd, "0", 1);
        int err = errno;
        ::close(fd);
        if (n != 1) {
            errno = err;
            return false;
        }
    }
    return true;
}

std::vector<UniqueFd> open_cgroup_join_files(const std::vector<stdfs::path>& join_files) {
    std::vector<UniqueFd> fds;
    fds.reserve(join_files.size());
    for (const auto& file : join_files) fds.push_back(fs::open_file(file, O_WRONLY));
    return fds;
}

bool join_cgroups(const std::vector<UniqueFd>& join_fds) noexcept {
    for (const auto& fd : join_fds)
        if (::write(fd.get(), "0", 1) != 1) return false;
    return true;
}

}  // namespace rkt::nspawn
