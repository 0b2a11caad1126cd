// rkt run, rkt prepare, rkt run-prepared.
#include <iostream>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "stage0/commands/commands.h"
#include "stage0/pod/measure_launch.h"
#include "stage0/pod/network_flags.h"
#include "stage0/pod/pod_preparer.h"
#include "stage0/pod/stage1_launch.h"

namespace rkt::commands {

namespace {

constexpr const char* kAppGrammar =
    "\nImages and apps:\n"
    "  IMAGE [APP FLAGS] [-- ARGS...] [--- IMAGE [APP FLAGS] [-- ARGS...]]...\n"
    "  IMAGE is an OCI image layout directory (or oci:PATH[:TAG]), an OCI or docker-save\n"
    "  archive, or the name or ID of an image in the store. App flags given before the first\n"
    "  image apply to every app.";

struct RunCommandState {
    PodFlags flags;
    bool quiet = false;  // prepare only
    std::string uuid;    // run-prepared only
};

// One value per occurrence: with prefix_command, a greedy option would swallow the images.
CLI::Option* single(CLI::Option* o) {
    return o->allow_extra_args(false);
}

void add_stage1_flags(CLI::App* cmd, Stage1Selection& s) {
    cmd->add_option("--stage1", s.stage1,
                    "stage1 to use: kvm (default), kvm-builtin, kvm-qemu, nspawn, fly");
    cmd->add_option("--stage1-path", s.path, "path to a stage1 directory");
    cmd->add_option("--stage1-name", s.name, "name of an installed stage1");
    cmd->add_option("--stage1-from-dir", s.from_dir,
                    "name of a stage1 in this installation's stage1 directory");
}

// Help without a flag's built-in default value ("--net{default}" reads "--net [=LIST]").
class PodFlagsFormatter : public CLI::Formatter {
public:
    std::string make_option_name(const CLI::Option* opt, bool positional) const override {
        std::string name = CLI::Formatter::make_option_name(opt, positional);
        if (auto b = name.find('{'), e = name.find('}'); b != std::string::npos && e > b)
            name.erase(b, e - b + 1);
        return name;
    }
};

void add_network_flags(CLI::App* cmd, PodFlags& f) {
    // A flag that may take a value: a bare --net (rkt's "default") must not swallow the image
    // that follows, so a value comes only as --net=LIST.
    cmd->add_flag("--net{default}", f.net,
                  "networks: default, none, host, or NAME[:K=V;...]; comma-separated (a bare "
                  "--net is default)")
        ->option_text("[=LIST]")
        ->allow_extra_args(false);
    cmd->formatter(std::make_shared<PodFlagsFormatter>());
    single(cmd->add_option("--dns", f.dns, "name servers for the pod (IP, host or none)"))
        ->delimiter(',');
    single(cmd->add_option("--dns-search", f.dns_search, "DNS search domains for the pod"))
        ->delimiter(',');
    single(cmd->add_option("--dns-opt", f.dns_options,
                           "DNS resolver options for the pod (e.g. ndots:2)"))
        ->delimiter(',');
    cmd->add_option("--dns-domain", f.dns_domain, "DNS local domain for the pod");
    single(cmd->add_option("--hosts-entry", f.hosts_entries,
                           "entries for /etc/hosts: IP=HOST, or host to copy the host's"));
    cmd->add_option("--hostname", f.hostname, "pod hostname (default rkt-$UUID)");
    cmd->add_flag("--mds-register")->description("accepted for compatibility; has no effect");
}

// The pod-level flags of run/prepare and the per-app flags (which, given before the first
// image, apply to every app).
void add_pod_flags(CLI::App* cmd, RunCommandState& st) {
    PodFlags& f = st.flags;
    add_stage1_flags(cmd, f.stage1);
    add_network_flags(cmd, f);
    single(
        cmd->add_option("--set-env", f.set_env, "environment variable for all apps: NAME=VALUE"));
    cmd->add_option("--set-env-file", f.set_env_file, "file of NAME=VALUE lines for all apps");
    cmd->add_flag("--inherit-env", f.inherit_env, "apps inherit rkt's environment");
    single(cmd->add_option(
        "--volume", f.volumes,
        "NAME,kind=host,source=PATH[,readOnly=true] or NAME,kind=empty[,mode=0755]"));
    single(cmd->add_option("--port", f.ports, "port to forward: NAME:[HOSTIP:]HOSTPORT"));
    cmd->add_flag("--interactive", f.interactive, "run the pod interactively (one app only)");
    cmd->add_option("--uuid-file-save", f.uuid_file_save, "write the pod's UUID to this file");
    cmd->add_option("--pull-policy", f.pull_policy, "when to fetch images: never, new, update")
        ->capture_default_str();
    cmd->add_option("--pod-manifest", f.pod_manifest, "run from this pod manifest");
    cmd->add_flag("--private-users", f.private_users, "run the pod in a user namespace");
    cmd->add_flag("--no-overlay", f.no_overlay, "copy image trees instead of overlay mounts");
    for (const auto& spec : app_flag_specs()) {
        std::string name = std::string("--") + spec.name;
        std::string help = spec.help;
        std::string flag_name = spec.name;
        if (spec.boolean) {
            cmd->add_flag_function(
                   name,
                   [&st, flag_name](int64_t) {
                       set_app_flag(st.flags.app_defaults, flag_name, "true");
                   },
                   help)
                ->group("App flags");
        } else {
            single(cmd->add_option_function<std::vector<std::string>>(
                       name,
                       [&st, flag_name](const std::vector<std::string>& values) {
                           for (const auto& v : values)
                               set_app_flag(st.flags.app_defaults, flag_name, v);
                       },
                       help))
                ->group("App flags");
        }
    }
    cmd->footer(kAppGrammar);
    cmd->prefix_command();
}

void save_uuid(const std::string& path, const std::string& uuid) {
    if (!path.empty()) fs::write_file_atomic(path, uuid + "\n", 0644, fs::Durability::kAtomicOnly);
}

[[noreturn]] void do_run(Context& ctx, RunCommandState& st, const std::vector<std::string>& rest) {
    Context::ensure_superuser();
    auto apps = parse_app_args(rest, st.flags.app_defaults);
    PreparedPod p = prepare_pod(ctx, st.flags, apps);
    try {
        measure_pod_launch(ctx, p.stage1, p.pod.path, p.pod.uuid, p.run_options);
    } catch (const Error&) {
        // A pod that must not start unmeasured is not left behind either.
        fs::remove_tree(p.pod.path);
        throw;
    }
    stdfs::path run_path =
        ctx.pods().move(p.pod.uuid, pod::StateDir::kPrepare, pod::StateDir::kRun);
    save_uuid(st.flags.uuid_file_save, p.pod.uuid);
    exec_stage1_run(p.stage1, run_path, p.pod.uuid, p.pod.lock.release(), p.run_options);
}

void do_prepare(Context& ctx, RunCommandState& st, const std::vector<std::string>& rest) {
    Context::ensure_superuser();
    auto apps = parse_app_args(rest, st.flags.app_defaults);
    PreparedPod p = prepare_pod(ctx, st.flags, apps);
    ctx.pods().move(p.pod.uuid, pod::StateDir::kPrepare, pod::StateDir::kPrepared);
    save_uuid(st.flags.uuid_file_save, p.pod.uuid);
    std::cout << p.pod.uuid << std::endl;
}

[[noreturn]] void do_run_prepared(Context& ctx, RunCommandState& st) {
    Context::ensure_superuser();
    check_hostname_flag(st.flags.hostname);
    std::vector<std::string> net = normalize_net_flag(st.flags.net);
    pod::Pod p = ctx.pods().resolve(st.uuid);
    if (p.state() != pod::State::kPrepared)
        throw Error("pod " + p.uuid() + " is not prepared (it is " + pod::state_name(p.state()) +
                    ")");
    FileLock lock = FileLock::try_acquire(p.path(), FileLock::Mode::kExclusive);
    if (!lock.valid()) throw Error("pod " + p.uuid() + " is being started by another rkt");
    Stage1 stage1 = load_pod_stage1(p.path());
    RunOptions options = load_run_options(p.path().string());
    // run-prepared may set the pod's network, name and interactivity anew.
    if (!st.flags.hostname.empty()) options.hostname = st.flags.hostname;
    if (!net.empty()) options.net = net;
    if (!st.flags.dns.empty()) options.dns = st.flags.dns;
    if (!st.flags.dns_search.empty()) options.dns_search = st.flags.dns_search;
    if (!st.flags.dns_options.empty()) options.dns_options = st.flags.dns_options;
    if (!st.flags.dns_domain.empty()) options.dns_domain = st.flags.dns_domain;
    if (!st.flags.hosts_entries.empty()) options.hosts_entries = st.flags.hosts_entries;
    if (st.flags.interactive) options.interactive = true;
    options.debug = options.debug || ctx.global.debug;
    // The same checks as prepare's, on the merged options, while the pod is still prepared.
    check_network_flags(options.net, {}, options);
    if (std::string special = special_net(options.net); !special.empty() && !options.ports.empty())
        throw Error("the pod was prepared with --port, which does not work with '" + special +
                    "' networking");
    if (stage1.name == "fly" && net.empty()) options.net = {"host"};
    check_stage1_network(stage1, options.net, !net.empty(), !options.ports.empty(), options);
    // Measured while still prepared: a pod that fails its measurement stays prepared.
    measure_pod_launch(ctx, stage1, p.path(), p.uuid(), options);
    stdfs::path run_path = ctx.pods().move(p.uuid(), pod::StateDir::kPrepared, pod::StateDir::kRun);
    fs::write_file_atomic(run_path / "run-options.json", options.to_json().dump(2), 0644,
                          fs::Durability::kAtomicOnly);
    exec_stage1_run(stage1, run_path, p.uuid(), lock.release(), options);
}

}  // namespace

void add_run(CLI::App& app, Context& ctx) {
    auto st = std::make_shared<RunCommandState>();
    auto* cmd = app.add_subcommand("run", "Run image(s) in a pod");
    add_pod_flags(cmd, *st);
    cmd->callback([&ctx, st, cmd] {
        log::set_prefix("run");
        do_run(ctx, *st, cmd->remaining());
    });
}

void add_prepare(CLI::App& app, Context& ctx) {
    auto st = std::make_shared<RunCommandState>();
    auto* cmd = app.add_subcommand("prepare", "Prepare a pod to run later with run-prepared");
    add_pod_flags(cmd, *st);
    cmd->add_flag("--quiet", st->quiet, "print only the pod's UUID");
    cmd->callback([&ctx, st, cmd] {
        log::set_prefix("prepare");
        do_prepare(ctx, *st, cmd->remaining());
    });
}

void add_run_prepared(CLI::App& app, Context& ctx) {
    auto st = std::make_shared<RunCommandState>();
    auto* cmd = app.add_subcommand("run-prepared", "Run a prepared pod");
    add_network_flags(cmd, st->flags);
    cmd->add_flag("--interactive", st->flags.interactive, "run the pod interactively");
    cmd->add_option("UUID", st->uuid, "the prepared pod's UUID")->required();
    cmd->callback([&ctx, st] {
        log::set_prefix("run-prepared");
        do_run_prepared(ctx, *st);
    });
}

}  // namespace rkt::commands
