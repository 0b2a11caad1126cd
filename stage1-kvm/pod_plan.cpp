#include "stage1-kvm/pod_plan.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/app_environment.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/guest_protocol/isolation_policy.h"
#include "common/isolation.h"
#include "common/strings.h"
#include "common/verity_info.h"

namespace rkt::kvm {

namespace {

constexpr size_t kMaxHostsFile = 1 << 20;

bool is_ip(const std::string& s) {
    unsigned char buf[16];
    return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool is_host_name(const std::string& s) {
    if (s.empty() || s.size() > 253) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
    });
}

// Whitespace-separated words of a line, up to a '#' comment.
std::vector<std::string> words(const std::string& line) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : line) {
        if (c == '#') break;
        if (c == ' ' || c == '\t' || c == '\r') {
            if (!cur.empty()) out.push_back(std::move(cur)), cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
}

bool is_token(const std::string& s) {
    return !s.empty() && s.size() <= 255 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

// The app's cgroup limits in the guest, from its resource isolators (the same parsing as nspawn).
guest::AppLimits app_limits(const isolation::ResourceLimits& r) {
    guest::AppLimits lim;
    lim.memory_bytes = r.memory_bytes;
    // More than every vCPU is no limit at all; the protocol's ceiling stands for it.
    if (r.cpu_millis)
        lim.cpu_millis =
            static_cast<uint32_t>(std::min<uint64_t>(*r.cpu_millis, guest::kMaxCpuMillis));
    // cgroup v1's shares (2..262144) as cgroup v2's weight (1..10000), as systemd and runc map
    // them.
    if (r.cpu_shares)
        lim.cpu_weight = static_cast<uint32_t>(1 + ((*r.cpu_shares - 2) * 9999) / 262142);
    if (r.pids_max) lim.pids_max = static_cast<uint32_t>(*r.pids_max);
    return lim;
}

// HOME from the image's /etc/passwd when the rendered tree is there (stage0 links it next to the
// erofs image); the guest resolves the user again where the image is mounted.
std::string home_of(const stdfs::path& pod_dir, const RuntimeApp& app) {
    std::error_code ec;
    stdfs::path tree = pod_dir / "appsinfo" / app.name / "rootfs";
    if (!stdfs::is_directory(tree, ec)) return "/";
    return isolation::resolve_identity(app.app, tree).home;
}

struct VolumeUse {
    const Volume* volume = nullptr;
    std::string target;
    bool read_only = false;
};

VolumeUse volume_use(const PodManifest& m, const RuntimeApp& app, const std::string& name,
                     const std::string& target) {
    if (target.empty() || target[0] != '/')
        throw Error("volume \"" + name + "\": mount path \"" + target + "\" must be absolute");
    const Volume* vol = m.find_volume(name);
    if (!vol) throw Error("mounts volume \"" + name + "\", which the pod does not define");
    VolumeUse use{vol, target, vol->read_only};
    for (const auto& mp : app.app.mount_points)
        if (mp.name == name && mp.read_only) use.read_only = true;
    return use;
}

// The app's explicit mounts, then the image's mount points that a pod volume of the same name
// fills (rkt's implicit mounts).
std::vector<VolumeUse> volume_uses(const PodManifest& m, const RuntimeApp& app) {
    std::vector<VolumeUse> uses;
    for (const auto& mount : app.mounts)
        uses.push_back(volume_use(m, app, mount.volume, mount.path));
    for (const auto& mp : app.app.mount_points) {
        bool explicit_mount = false;
        for (const auto& mount : app.mounts) explicit_mount |= mount.volume == mp.name;
        if (!explicit_mount && m.find_volume(mp.name))
            uses.push_back(volume_use(m, app, mp.name, mp.path));
    }
    return uses;
}

void check_host_source(const Volume& vol) {
    if (vol.source.empty() || vol.source[0] != '/')
        throw Error("volume \"" + vol.name + "\": source \"" + vol.source +
                    "\" must be an absolute path");
    struct stat st {};
    if (::stat(vol.source.c_str(), &st) != 0)
        throw system_error("volume \"" + vol.name + "\": source " + vol.source);
    if (!S_ISDIR(st.st_mode))
        throw Error("volume \"" + vol.name + "\": source " + vol.source +
                    " is not a directory; the kvm stage1 shares directories with the VM, not "
                    "single files");
}

// Every volume of the pod, mounted or not, is checked as the other stage1s check it.
void check_volume(const Volume& vol) {
    if (!strings::is_valid_acname(vol.name))
        throw Error("volume name \"" + vol.name +
                    "\" is not valid (lower-case letters, digits and dashes)");
    if (vol.kind != "host" && vol.kind != "empty")
        throw Error("volume \"" + vol.name + "\": unknown kind \"" + vol.kind +
                    "\" (host or empty)");
    if (vol.kind == "empty") {
        empty_volume_mode(vol);
        // chown(2) reads (uid_t)-1 as "unchanged": the volume would not get the owner asked for.
        if (vol.uid > guest::kMaxId || vol.gid > guest::kMaxId)
            throw Error("volume \"" + vol.name + "\": uid and gid must be below 4294967295");
    }
}

// appsinfo/<app>/image.verity, which stage0 copied from the store (and the measured launch
// measured): the guest reads the disk through dm-verity with these, so a disk that is not the
// one prepared fails there. A size that cannot match is said here, before any VM.
guest::DiskVerity disk_verity(const stdfs::path& pod_dir, const std::string& app,
                              const stdfs::path& image) {
    stdfs::path file = pod_dir / "appsinfo" / app / "image.verity";
    std::error_code ec;
    if (!stdfs::is_regular_file(file, ec))
        throw Error(file.string() +
                    " is missing: the pod was prepared without the dm-verity parameters of its "
                    "app disks (by an older rkt?); prepare it again");
    VerityInfo info = read_verity_info(file);
    uint64_t size = stdfs::file_size(image, ec);
    if (ec || size != info.file_size())
        throw Error("the disk of app \"" + app + "\" (" + image.string() + ", " +
                    std::to_string(size) + " bytes) is not the one the pod was prepared with (" +
                    std::to_string(info.file_size()) + " bytes with its hash tree)");
    return {info.data_blocks, info.hash_start_block(), info.root_hash, info.salt};
}

guest::GuestApp plan_app(const PlanInputs& in, const RuntimeApp& app, size_t index,
                         const isolation::InsecureOptions& insecure,
                         std::map<std::string, guest::VolumeSpec>& volumes, PodPlan& plan) {
    guest::GuestApp g;
    g.name = app.name;
    if (!strings::is_valid_acname(app.name))
        throw Error("app name \"" + app.name +
                    "\" is not valid (lower-case letters, digits, dashes)");
    if (app.app.exec.empty() || app.app.exec[0].empty())
        throw Error("nothing to run: the image has no exec (give one with --exec)");
    g.exec = app.app.exec;
    for (const auto& a : g.exec)
        if (a.find('\0') != std::string::npos) throw Error("exec arguments hold a NUL byte");
    g.env = app_environment(app, home_of(in.pod_dir, app));
    g.user = app.app.user.empty() ? "0" : app.app.user;
    g.group = app.app.group.empty() ? "0" : app.app.group;
    g.supplementary_gids = app.app.supplementary_gids;
    g.working_dir = app.app.working_directory.empty() ? "/" : app.app.working_directory;
    if (g.working_dir[0] != '/')
        throw Error("working directory \"" + g.working_dir + "\" must be absolute");
    g.disk = static_cast<uint32_t>(index);
    g.disk_serial = "rkt-app-" + std::to_string(index);
    g.isolation = guest::settings_from_policy(isolation::policy_for_app(app.app, insecure));
    g.limits = app_limits(isolation::resource_limits(app.app.isolators));

    stdfs::path link = in.pod_dir / "appsinfo" / app.name / "image.erofs";
    std::error_code ec;
    stdfs::path image = stdfs::canonical(link, ec);
    if (ec || !stdfs::is_regular_file(image, ec))
        throw Error(link.string() +
                    " is not an erofs image (stage0 links it for stage1s with "
                    "imageFormat erofs)");
    g.verity = disk_verity(in.pod_dir, app.name, image);
    plan.disks.push_back({app.name, image, g.disk_serial});

    std::set<std::string> targets;
    for (const VolumeUse& use : volume_uses(*in.manifest, app)) {
        const Volume& vol = *use.volume;
        if (!targets.insert(use.target).second)
            throw Error("two volumes are mounted on " + use.target);
        if (!volumes.count(vol.name)) {
            guest::VolumeSpec spec;
            spec.name = vol.name;
            spec.read_only = vol.read_only;
            if (vol.kind == "host") {
                check_host_source(vol);
                spec.kind = guest::VolumeSpec::Kind::k9p;
                spec.tag = "rkt-vol" + std::to_string(plan.shares.size());
                plan.shares.push_back({vol.name, spec.tag, vol.source, vol.read_only});
            } else if (vol.kind == "empty") {
                spec.kind = guest::VolumeSpec::Kind::kEmpty;
                spec.mode = empty_volume_mode(vol);
                spec.uid = vol.uid;
                spec.gid = vol.gid;
            } else {
                throw Error("volume \"" + vol.name + "\": unknown kind \"" + vol.kind +
                            "\" (host or empty)");
            }
            volumes.emplace(vol.name, std::move(spec));
        }
        g.mounts.push_back({vol.name, use.target, use.read_only});
    }
    return g;
}

}  // namespace

std::string default_hostname(const std::string& uuid) {
    return "rkt-" + uuid;
}

VmSize vm_size(const RunOptions& options, unsigned host_cpus) {
    VmSize size;
    uint64_t mib = kBaseMemoryMib;
    if (options.memory) mib += (*options.memory + (1u << 20) - 1) >> 20;
    // The built-in VMM and QEMU both refuse absurd sizes; say it here in the pod's terms.
    if (mib > (1u << 20))
        throw Error("the apps' memory limits add up to more than 1 TiB, more than a VM can have");
    size.memory_mib = static_cast<uint32_t>(mib);
    uint64_t cpus = options.cpu_millis ? (*options.cpu_millis + 999) / 1000 : 1;
    size.vcpus = static_cast<uint32_t>(std::clamp<uint64_t>(cpus, 1, std::max(1u, host_cpus)));
    return size;
}

std::vector<guest::HostsEntry> hosts_entries(const std::vector<std::string>& values,
                                             const stdfs::path& host_hosts_file) {
    std::vector<guest::HostsEntry> out;
    if (values.size() == 1 && values[0] == "host") {
        auto text = fs::read_file_if_exists(host_hosts_file);
        if (!text) return out;
        if (text->size() > kMaxHostsFile)
            throw Error(host_hosts_file.string() + " is larger than 1 MiB");
        for (const auto& line : strings::split(*text, '\n')) {
            auto w = words(line);
            if (w.size() < 2 || !is_ip(w[0])) continue;
            guest::HostsEntry e{w[0], {}};
            for (size_t i = 1; i < w.size(); ++i)
                if (is_token(w[i])) e.names.push_back(w[i]);
            if (!e.names.empty()) out.push_back(std::move(e));
        }
        return out;
    }
    std::map<std::string, size_t> index;
    for (const auto& v : values) {
        auto eq = v.find('=');
        std::string ip = eq == std::string::npos ? "" : v.substr(0, eq);
        std::string name = eq == std::string::npos ? "" : v.substr(eq + 1);
        if (!is_ip(ip) || !is_host_name(name))
            throw Error("bad hosts entry \"" + v + "\" (use IP=HOSTNAME, e.g. 128.66.0.99=host1)");
        auto [it, added] = index.emplace(ip, out.size());
        if (added) out.push_back({ip, {}});
        out[it->second].names.push_back(name);
    }
    return out;
}

std::optional<guest::DnsConfig> dns_config(const RunOptions& o, const stdfs::path& host_resolv_conf,
                                           const std::optional<ResolvConf>& network_dns,
                                           const std::string& network_name) {
    // A VM has no host network: "no flag" never means the host's file here.
    DnsChoice choice = choose_dns(o, false, network_dns, network_name);
    if (choice.source == DnsChoice::Source::kImage) return std::nullopt;
    guest::DnsConfig dns;
    if (choice.source == DnsChoice::Source::kGenerated) {
        dns.nameservers = choice.conf.nameservers;
        dns.search = choice.conf.search;
        dns.options = choice.conf.options;
        dns.domain = choice.conf.domain;
        return dns;
    }
    // --dns=host: the host's file, as its values (the guest writes the file itself).
    auto text = fs::read_file_if_exists(host_resolv_conf);
    if (!text) return std::nullopt;
    if (text->size() > kMaxHostsFile)
        throw Error(host_resolv_conf.string() + " is larger than 1 MiB");
    for (const auto& line : strings::split(*text, '\n')) {
        auto w = words(line);
        if (w.size() < 2) continue;
        if (w[0] == "domain") {
            if (is_token(w[1])) dns.domain = w[1];
            continue;
        }
        std::vector<std::string>* list = w[0] == "nameserver" ? &dns.nameservers
                                         : w[0] == "search"   ? &dns.search
                                         : w[0] == "options"  ? &dns.options
                                                              : nullptr;
        if (!list) continue;
        for (size_t i = 1; i < w.size(); ++i)
            if (is_token(w[i])) list->push_back(w[i]);
    }
    return dns;
}

PodPlan plan_pod(const PlanInputs& in) {
    const RunOptions& o = in.options;
    PodPlan plan;
    if (o.interactive)
        throw Error("--interactive is not supported by the kvm stage1 yet (use --stage1=nspawn)");
    for (const auto& net : o.net)
        if (net == "host")
            throw Error(
                "--net=host is not possible with the kvm stage1: a VM has its own network "
                "(try --net=none or --stage1=nspawn)");
    if (in.manifest->apps.empty()) throw Error("the pod has no apps");
    if (in.manifest->apps.size() > guest::kMaxApps)
        throw Error("the kvm stage1 runs at most " + std::to_string(guest::kMaxApps) +
                    " apps in a pod");

    guest::PodSpec& spec = plan.spec;
    spec.hostname = o.hostname.empty() ? default_hostname(in.uuid) : o.hostname;
    spec.debug = o.debug;
    spec.hosts_entries = hosts_entries(o.hosts_entries, in.host_etc / "hosts");
    spec.dns = dns_config(o, in.host_etc / "resolv.conf");

    for (const auto& vol : in.manifest->volumes) check_volume(vol);
    auto insecure = isolation::InsecureOptions::from_names(o.insecure_options);
    std::map<std::string, guest::VolumeSpec> volumes;
    for (size_t i = 0; i < in.manifest->apps.size(); ++i) {
        const RuntimeApp& app = in.manifest->apps[i];
        spec.apps.push_back(with_context("app \"" + app.name + "\"", [&] {
            return plan_app(in, app, i, insecure, volumes, plan);
        }));
    }
    for (auto& [name, v] : volumes) spec.volumes.push_back(std::move(v));
    // Before the spec's rules, whose memory ceiling is this one's: the error speaks of the pod.
    plan.size = vm_size(o, in.host_cpus);
    // The guest checks the same rules; checking here gives the error before any VM exists.
    guest::validate_pod_spec(spec);
    return plan;
}

}  // namespace rkt::kvm
