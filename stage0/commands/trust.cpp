// rkt trust: manage the keys that image signatures are verified against.
#include <iostream>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "stage0/commands/commands.h"
#include "stage0/table.h"
#include "stage0/trust/keystore.h"

namespace rkt::commands {

void add_trust(CLI::App& app, Context& ctx) {
    struct Opts {
        std::vector<std::string> keys;
        std::string prefix;
        bool root = false;
        bool list = false;
        std::string remove;
        bool skip_review = false;
        bool insecure_allow_http = false;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand(
        "trust", "Trust a public key (PEM) for signatures of images under a name prefix");
    cmd->add_option("PUBKEY", o->keys, "PEM public key files (ECDSA P-256 or Ed25519)");
    cmd->add_option("--prefix", o->prefix,
                    "image name prefix the key may sign (e.g. registry.example.com/team)");
    cmd->add_flag("--root", o->root, "trust the key for every image");
    cmd->add_flag("--list", o->list, "list the trusted keys");
    cmd->add_option("--remove", o->remove, "remove the local key(s) with this fingerprint prefix");
    cmd->add_flag("--skip-fingerprint-review", o->skip_review,
                  "accepted for compatibility (keys come from files, fingerprints are printed)");
    cmd->add_flag("--insecure-allow-http", o->insecure_allow_http, "accepted for compatibility");
    cmd->callback([&ctx, o] {
        log::set_prefix("trust");
        trust::Keystore keystore(ctx.global.system_config, ctx.global.local_config);
        if (o->list) {
            Table table({"FINGERPRINT", "TYPE", "SCOPE", "FILE"});
            for (const auto& k : keystore.list())
                table.add_row(
                    {k.fingerprint, k.type, k.is_root() ? "root" : k.prefix, k.path.string()});
            table.print(std::cout, true);
            return;
        }
        if (!o->remove.empty()) {
            auto removed = keystore.remove(o->remove);
            if (removed.empty())
                throw Error("no key in " + ctx.global.local_config +
                            "/trustedkeys has a fingerprint starting with " + o->remove);
            for (const auto& k : removed) std::cout << "removed " << k.path.string() << "\n";
            return;
        }
        if (o->keys.empty()) throw Error("give a PEM public key file (or --list, --remove)");
        if (o->root == !o->prefix.empty())
            throw Error(o->root ? "--root and --prefix exclude each other"
                                : "say which images the key may sign: --prefix=NAME_PREFIX, or "
                                  "--root for every image");
        for (const auto& path : o->keys) {
            std::string pem = with_context("cannot read " + path,
                                           [&] { return fs::read_file_limited(path, 64 << 10); });
            auto k =
                with_context(path, [&] { return keystore.add(pem, o->root ? "" : o->prefix); });
            std::cout << "trusting " << k.type << " key " << k.fingerprint << " for "
                      << (k.is_root() ? std::string("every image") : "images under " + k.prefix)
                      << "\nadded " << k.path.string() << "\n";
        }
    });
}

}  // namespace rkt::commands
