#include "stage0/pod/pod_preparer.h"

#include <unistd.h>

#include <optional>
#include <set>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "stage0/image_source.h"
#include "stage0/pod/app_rootfs.h"
#include "stage0/pod/network_flags.h"
#include "stage0/pod/pod_manifest_input.h"
#include "stage0/pod/pod_spec_builder.h"
#include "stage0/store/out_of_space.h"

extern char** environ;

namespace rkt {

void validate_pod_flags(const PodFlags& flags, const std::vector<AppRequest>& apps) {
    if (!flags.pod_manifest.empty()) {
        // The manifest sets the apps, their images, volumes and environment (as rkt did);
        // per-app flags given before any image would apply to none.
        bool conflicting = !apps.empty() || !flags.volumes.empty() || !flags.ports.empty() ||
                           flags.inherit_env || !flags.set_env.empty() ||
                           !flags.set_env_file.empty() || flags.pull_policy != "new" ||
                           flags.app_defaults != AppFlags{};
        if (conflicting) throw Error("conflicting flags set with --pod-manifest (see --help)");
    }
    if (apps.empty() && flags.pod_manifest.empty())
        throw Error("must provide at least one image or specify the pod manifest");
    RunOptions dns_and_hosts;
    dns_and_hosts.dns = flags.dns;
    dns_and_hosts.dns_search = flags.dns_search;
    dns_and_hosts.dns_options = flags.dns_options;
    dns_and_hosts.dns_domain = flags.dns_domain;
    dns_and_hosts.hosts_entries = flags.hosts_entries;
    check_network_flags(normalize_net_flag(flags.net), flags.ports, dns_and_hosts);
    parse_pull_policy(flags.pull_policy);
    check_hostname_flag(flags.hostname);
}

void check_hostname_flag(const std::string& hostname) {
    if (!hostname.empty() && !strings::is_valid_hostname(hostname))
        throw Error("--hostname \"" + strings::printable(hostname, 80) +
                    "\" is not a host name: use dot-separated labels of letters, digits and "
                    "dashes (1-63 characters each, no dash at either end, 64 in all)");
}

RunOptions make_run_options(Context& ctx, const PodFlags& flags, const Stage1& stage1) {
    RunOptions o;
    o.hostname = flags.hostname;
    // fly has only the host's network: that is its default, not rkt's "default" network.
    if (!flags.net.empty())
        o.net = normalize_net_flag(flags.net);
    else if (stage1.name == "fly")
        o.net = {"host"};
    o.dns = flags.dns;
    o.dns_search = flags.dns_search;
    o.dns_options = flags.dns_options;
    o.dns_domain = flags.dns_domain;
    o.hosts_entries = flags.hosts_entries;
    o.local_config = ctx.global.local_config;
    o.system_config = ctx.global.system_config;
    o.cni_path = ctx.global.cni_plugin_dirs;
    o.insecure_options = ctx.insecure().names();
    o.interactive = flags.interactive;
    o.debug = ctx.global.debug;
    o.engine = stage1.engine;
    if (flags.private_users) o.private_users = choose_private_users().to_string();
    return o;
}

namespace {

// The run flag that sets an isolator, for messages ("" when only a manifest can).
std::string isolator_flag(const std::string& isolator) {
    static const std::pair<std::string_view, std::string_view> kFlags[] = {
        {"resource/memory", "--memory"},
        {"resource/cpu", "--cpu"},
        {"resource/cpu-shares", "--cpu-shares"},
        {"os/linux/cpu-shares", "--cpu-shares"},
        {"resource/pids", "--pids-limit"},
        {"os/linux/capabilities-retain-set", "--caps-retain"},
        {"os/linux/capabilities-remove-set", "--caps-remove"},
        {"os/linux/seccomp-retain-set", "--seccomp"},
        {"os/linux/seccomp-remove-set", "--seccomp"},
        {"os/linux/oom-score-adj", "--oom-score-adj"},
    };
    for (const auto& [name, flag] : kFlags)
        if (name == isolator) return std::string(flag);
    return "";
}

// fly chroots the app and leaves it the host's privileges, namespaces and cgroup: an isolator
// it would drop silently is refused instead, before any image work.
void check_stage1_isolators(const PodIntent& intent, const Stage1& stage1) {
    if (stage1.name != "fly") return;
    for (const AppIntent& app : intent.apps) {
        if (app.isolators.empty()) continue;
        const std::string& isolator = app.isolators.front().name;
        std::string flag = isolator_flag(isolator);
        std::string who = app.name ? "app \"" + *app.name + "\"" : "image \"" + app.image + "\"";
        throw Error(
            "the fly stage1 applies no isolators (it runs the app chrooted, with the "
            "host's privileges): " +
            who + " asks for " + (flag.empty() ? isolator : flag + " (" + isolator + ")") +
            "; use --stage1=nspawn or --stage1=kvm, or drop it");
    }
}

void write_pod_files(const PreparedPod& p, const PodManifest& manifest,
                     const std::vector<PodAppImage>& images, bool copy_trees) {
    const stdfs::path& dir = p.pod.path;
    pod::create_private_pod_dirs(dir);
    fs::write_file(dir / "pod-created", "");
    fs::write_file_atomic(dir / "pod", manifest.serialize(true), 0644, fs::Durability::kAtomicOnly);
    fs::write_file_atomic(dir / "run-options.json", p.run_options.to_json().dump(2), 0644,
                          fs::Durability::kAtomicOnly);
    std::error_code ec;
    stdfs::create_directory_symlink(p.stage1.dir, dir / "stage1", ec);
    if (ec) throw Error("cannot record the stage1 in the pod: " + ec.message());
    if (!p.stage1.engine.empty()) fs::write_file(dir / "stage1-engine", p.stage1.engine + "\n");
    fs::make_dirs(dir / "status");
    fs::make_dirs(dir / "logs");
    std::optional<IdShift> shift;
    if (!p.run_options.private_users.empty()) shift = IdShift::parse(p.run_options.private_users);
    for (size_t i = 0; i < images.size(); ++i) {
        stdfs::path info = dir / "appsinfo" / manifest.apps[i].name;
        fs::make_dirs(info);
        fs::write_file(info / "manifest", images[i].image.config.to_json().dump(2));
        if (!images[i].rootfs.empty())
            place_app_rootfs(images[i].rootfs, info / "rootfs", copy_trees, shift);
        if (!images[i].erofs.empty())
            stdfs::create_symlink(images[i].erofs, info / "image.erofs", ec);
        if (ec) throw Error("cannot link the app's image: " + ec.message());
        // Copies, not links: what the pod was prepared with (and measured) stays as it was
        // whatever the store does later; the guest checks the disk against image.verity.
        if (images[i].verity) fs::write_file(info / "image.verity", to_json(*images[i].verity));
        if (!images[i].tree_digest.empty())
            fs::write_file(info / "tree.digest", images[i].tree_digest + "\n");
    }
    if (shift) mark_private_users_prepared(dir);
}

}  // namespace

PreparedPod prepare_pod(Context& ctx, const PodFlags& flags, const std::vector<AppRequest>& apps) {
    validate_pod_flags(flags, apps);
    // What the pod's apps ask for, from --pod-manifest or the command line; read before any
    // image work, so bad input costs nothing and leaves the store as it was.
    std::optional<PodManifestInput> from_file;
    if (!flags.pod_manifest.empty()) from_file = read_pod_manifest_input(flags.pod_manifest);
    const PodIntent intent = from_file ? from_file->intent : pod_intent_from_flags(flags, apps);
    if (flags.interactive && intent.apps.size() > 1)
        throw Error("interactive option only supports one image");
    Stage1 stage1 = select_stage1(flags.stage1, ctx.global.local_config, ctx.global.system_config);
    stage1.entrypoint("run");  // fail early, before any image work, when it is not built
    check_stage1_supports(flags, stage1);
    check_stage1_isolators(intent, stage1);
    RunOptions options = make_run_options(ctx, flags, stage1);
    check_stage1_network(stage1, options.net, !flags.net.empty(), !flags.ports.empty(), options);

    // Image gc waits while any pod is being prepared, so images cannot vanish under us before
    // the pod file that names them exists.
    FileLock prepare_lock = ctx.lock_prepare(FileLock::Mode::kShared);

    // A pod manifest's images come from the store only; the command line's may be imported.
    std::vector<store::ImageInfo> found;
    if (from_file) {
        for (size_t i = 0; i < from_file->images.size(); ++i)
            found.push_back(
                find_manifest_image(ctx.images(), from_file->images[i], *intent.apps[i].name));
    } else {
        PullPolicy policy = parse_pull_policy(flags.pull_policy);
        for (const auto& app : apps)
            found.push_back(
                obtain_image(ctx, {app.image, policy, app.flags.signature.value_or("")}));
    }
    std::vector<PodAppImage> images;
    for (auto& info : found) {
        PodAppImage img;
        img.image = std::move(info);
        img.rootfs = ctx.images().render_tree(img.image.id);
        if (stage1.image_format == "erofs") {
            img.erofs = ctx.images().erofs_image(img.image.id);
            img.verity = ctx.images().erofs_verity(img.image.id);
        } else {
            img.tree_digest = ctx.images().tree_digest(img.image.id);
        }
        ctx.images().touch(img.image.id);
        images.push_back(std::move(img));
    }
    PodManifest manifest = build_pod_manifest(intent, images);
    // The ports the apps expose are known now; a --port naming none fails before the pod exists.
    options.ports = resolve_port_flags(flags.ports, manifest);

    PreparedPod p{ctx.pods().create(), stage1, std::move(options)};
    p.run_options.memory = total_memory_limit(manifest);
    p.run_options.cpu_millis = total_cpu_limit(manifest);
    try {
        write_pod_files(p, manifest, images, flags.no_overlay);
    } catch (const Error& e) {
        fs::remove_tree(p.pod.path);
        if (store::needs_out_of_space_line(e))
            throw store::out_of_space("pod " + p.pod.uuid, ctx.pods().pods_dir());
        throw;
    } catch (...) {
        fs::remove_tree(p.pod.path);
        throw;
    }
    return p;
}

}  // namespace rkt
