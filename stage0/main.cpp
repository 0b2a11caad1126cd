// rkt: stage0 entry point. Parses global flags and dispatches to one command.
#include <CLI/CLI.hpp>

#include "common/log.h"
#include "common/main_wrapper.h"
#include "stage0/commands/commands.h"
#include "stage0/context.h"

namespace {

// The command line and its commands; every escaped Error reaches run_main below.
int rkt_main(int argc, char** argv) {
    rkt::Context ctx;
    CLI::App app{"rkt - a KVM-first pod runtime: runs pods of container images in their own VM",
                 "rkt"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "Print help for all commands");
    app.add_option("--dir", ctx.global.dir, "rkt data directory")->capture_default_str();
    app.add_option("--local-config", ctx.global.local_config, "local configuration directory")
        ->capture_default_str();
    app.add_option("--system-config", ctx.global.system_config, "system configuration directory")
        ->capture_default_str();
    app.add_option("--user-config", ctx.global.user_config, "user configuration directory");
    app.add_option("--insecure-options", ctx.global.insecure_options,
                   "comma-separated list of security features to disable: none, image, tls, "
                   "http, pubkey, capabilities, paths, seccomp, all-fetch, all-run, all")
        ->check([](const std::string& value) -> std::string {
            try {
                rkt::InsecureOptions::parse(value);
                return {};
            } catch (const rkt::Error& e) {
                return e.what();
            }
        })
        ->multi_option_policy(CLI::MultiOptionPolicy::Join)
        ->delimiter(',');
    app.add_option("--cni-plugin-dir", ctx.global.cni_plugin_dirs,
                   "directories of CNI plugins, searched in order (colon-separated or repeated; "
                   "default /usr/lib/cni)")
        ->delimiter(':');
    app.add_flag("--debug", ctx.global.debug, "print out more debug information to stderr")
        ->each([](const std::string&) { rkt::log::set_debug(true); });
    app.add_option("--tpm", ctx.global.tpm,
                   "measure pods into the TPM: off, auto (when one is reachable; the default), "
                   "required (refuse to run unmeasured)");
    app.add_option("--tpm-tcti", ctx.global.tpm_tcti,
                   "the TPM to use, as a tss2 TCTI: device:/dev/tpmrm0 (the default), tabrmd, "
                   "swtpm:host=H,port=P");
    app.add_flag("--trust-keys-from-https")
        ->description("accepted for compatibility; has no effect");

    using namespace rkt::commands;
    add_version(app, ctx);
    add_run(app, ctx);
    add_prepare(app, ctx);
    add_run_prepared(app, ctx);
    add_list(app, ctx);
    add_status(app, ctx);
    add_stop(app, ctx);
    add_rm(app, ctx);
    add_gc(app, ctx);
    add_cat_manifest(app, ctx);
    add_fetch(app, ctx);
    add_image(app, ctx);
    add_enter(app, ctx);
    add_trust(app, ctx);
    add_tpm(app, ctx);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::Success& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        throw rkt::Error(e.what() + std::string(" (see --help)"));
    }
    return ctx.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
    return rkt::run_main("rkt", [&] { return rkt_main(argc, argv); });
}
