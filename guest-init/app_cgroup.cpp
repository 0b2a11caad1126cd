#include "guest-init/app_cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/device_filter.h"
#include "common/error.h"
#include "common/io.h"
#include "common/strings.h"

namespace rkt::guest_init {

namespace {

constexpr std::string_view kControllers = "+cpu +memory +pids";
constexpr size_t kMaxEventsText = 4096;

UniqueFd open_at(int dir, const std::string& name, int flags, const std::string& where) {
    UniqueFd fd(io::retry_eintr([&] { return ::openat(dir, name.c_str(), flags | O_CLOEXEC); }));
    if (!fd) throw system_error("cannot open " + where + "/" + name);
    return fd;
}

// One write(2): a cgroup file takes a value whole or refuses it.
void write_value(int dir, const std::string& name, std::string_view value,
                 const std::string& where) {
    UniqueFd fd = open_at(dir, name, O_WRONLY, where);
    std::string what = where + "/" + name + " (\"";
    what.append(value).append("\")");
    io::write_all(fd.get(), value, what);
}

std::string read_value(int dir, const std::string& name, const std::string& where) {
    UniqueFd fd = open_at(dir, name, O_RDONLY, where);
    std::string text(kMaxEventsText, '\0');
    ssize_t n = io::read_some(fd.get(), text.data(), text.size());
    if (n < 0) throw system_error("cannot read " + where + "/" + name);
    text.resize(static_cast<size_t>(n));
    return text;
}

UniqueFd make_cgroup(int parent, const std::string& name, const std::string& where) {
    if (::mkdirat(parent, name.c_str(), 0755) < 0 && errno != EEXIST)
        throw system_error("cannot create the cgroup " + where);
    return open_at(parent, name, O_PATH | O_DIRECTORY, where);
}

}  // namespace

CgroupValues cgroup_values(const guest::AppLimits& limits) {
    CgroupValues v;
    if (limits.memory_bytes) v.memory_max = std::to_string(*limits.memory_bytes);
    if (limits.cpu_millis) {
        uint64_t quota = std::max(*limits.cpu_millis * kCpuPeriodUs / 1000, kMinCpuQuotaUs);
        v.cpu_max = std::to_string(quota) + " " + std::to_string(kCpuPeriodUs);
    }
    if (limits.cpu_weight) v.cpu_weight = std::to_string(*limits.cpu_weight);
    if (limits.pids_max) v.pids_max = std::to_string(*limits.pids_max);
    return v;
}

uint64_t oom_kill_count(std::string_view memory_events) {
    for (const auto& line : strings::split(memory_events, '\n')) {
        constexpr std::string_view kKey = "oom_kill ";
        if (line.rfind(kKey, 0) != 0) continue;
        std::string number = line.substr(kKey.size());
        if (!strings::is_decimal(number) || number.size() > 19) return 0;
        return std::stoull(number);
    }
    return 0;
}

void setup_guest_cgroups(const std::string& root) {
    UniqueFd top(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!top) throw system_error("cannot open the cgroup2 root " + root);
    // Processes of the root cgroup obey no controller: guest-init leaves it so that it is
    // accounted apart from the apps, and the apps' cgroups get the controllers.
    UniqueFd own = make_cgroup(top.get(), "guest-init", root + "/guest-init");
    write_value(own.get(), "cgroup.procs", "0", root + "/guest-init");
    // The kernel never picks PID 1, but the children guest-init forks inherit this until they
    // join their app's cgroup (and set their own).
    UniqueFd adj(::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
    if (!adj) throw system_error("cannot open /proc/self/oom_score_adj");
    io::write_all(adj.get(), "-1000", "oom_score_adj of guest-init");
    try {
        write_value(top.get(), "cgroup.subtree_control", kControllers, root);
        UniqueFd apps = make_cgroup(top.get(), "apps", root + "/apps");
        write_value(apps.get(), "cgroup.subtree_control", kControllers, root + "/apps");
    } catch (const Error& e) {
        throw Error(std::string(e.what()) +
                    " (the guest kernel needs the cpu, memory and pids cgroup controllers: "
                    "kernel-config/guest.config)");
    }
}

AppCgroup AppCgroup::create(const std::string& app, const guest::AppLimits& limits,
                            const std::string& root) {
    const std::string where = root + "/apps/" + app;
    UniqueFd apps(::open((root + "/apps").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!apps) throw system_error("cannot open " + root + "/apps");
    AppCgroup cg;
    cg.dir_ = make_cgroup(apps.get(), app, where);
    CgroupValues v = cgroup_values(limits);
    write_value(cg.dir_.get(), "memory.max", v.memory_max, where);
    // One OOM kill ends the whole app (as systemd's OOMPolicy=stop did for rkt's apps): no app
    // goes on half-killed, and its end is reported as the OOM killer's.
    write_value(cg.dir_.get(), "memory.oom.group", "1", where);
    // The guest has no swap; should a kernel have it, the limit still bounds all of the app.
    if (::faccessat(cg.dir_.get(), "memory.swap.max", F_OK, 0) == 0)
        write_value(cg.dir_.get(), "memory.swap.max", "0", where);
    write_value(cg.dir_.get(), "cpu.max", v.cpu_max, where);
    write_value(cg.dir_.get(), "cpu.weight", v.cpu_weight, where);
    write_value(cg.dir_.get(), "pids.max", v.pids_max, where);
    cg.procs_ = open_at(cg.dir_.get(), "cgroup.procs", O_WRONLY, where);
    // The same devices as an nspawn app (common/device_filter): not the console, the kernel's
    // log, the disks or the host port, whatever nodes the app makes or finds.
    UniqueFd dir = open_at(apps.get(), app, O_RDONLY | O_DIRECTORY, where);
    device_filter::attach_v2(dir.get());
    return cg;
}

bool AppCgroup::join() const noexcept {
    return io::try_write_all(procs_.get(), "0");
}

uint64_t AppCgroup::oom_kills() const {
    if (!dir_) return 0;
    try {
        return oom_kill_count(read_value(dir_.get(), "memory.events", "the app's cgroup"));
    } catch (const Error&) {
        return 0;
    }
}

void AppCgroup::kill_all() const noexcept {
    if (!dir_) return;
    UniqueFd fd(
        io::retry_eintr([&] { return ::openat(dir_.get(), "cgroup.kill", O_WRONLY | O_CLOEXEC); }));
    if (!fd) return;
    // Should it fail, the end of the pod still kills every process one by one (kill -1).
    [[maybe_unused]] bool ok = io::try_write_all(fd.get(), "1");
}

}  // namespace rkt::guest_init
