// rkt image sign: signs an image in a registry with a private key, cosign's way (a
// simple-signing payload under the tag sha256-<hex>.sig), so that `rkt fetch` can verify it.
#include <iostream>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "stage0/commands/commands.h"
#include "stage0/image_source.h"
#include "stage0/registry/reference.h"

namespace rkt::commands {

void add_image_sign(CLI::App& image, Context& ctx) {
    struct Opts {
        std::string ref;
        std::string key;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = image.add_subcommand(
        "sign", "Sign an image in a registry (docker://...) and push the signature next to it");
    cmd->add_option("IMAGE", o->ref, "docker://HOST[:PORT]/NAME[:TAG|@DIGEST]")->required();
    cmd->add_option("--key", o->key, "unencrypted PEM private key (ECDSA P-256 or Ed25519)")
        ->required();
    cmd->callback([&ctx, o] {
        log::set_prefix("image sign");
        auto ref = registry::parse_docker_url(o->ref);
        std::string pem = with_context("cannot read " + o->key,
                                       [&] { return fs::read_file_limited(o->key, 64 << 10); });
        std::string digest = with_context("cannot sign " + ref.to_string(), [&] {
            return registry::sign_image(ref, pem, registry_options(ctx));
        });
        std::cout << "signed " << ref.to_string() << " (" << digest << ")\n";
    });
}

}  // namespace rkt::commands
