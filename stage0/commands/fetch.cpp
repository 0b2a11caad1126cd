// rkt fetch
#include <iostream>

#include "common/log.h"
#include "stage0/commands/commands.h"
#include "stage0/image_source.h"

namespace rkt::commands {

void add_fetch(CLI::App& app, Context& ctx) {
    struct Opts {
        std::vector<std::string> images;
        bool full = false;
        std::string pull_policy = "update";
        std::string signature;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand("fetch", "Fetch image(s) and store them locally");
    cmd->add_option("IMAGES", o->images, "OCI layouts, archives, or docker:// references")
        ->required();
    cmd->add_flag("--full", o->full, "print the full image ID");
    cmd->add_option("--pull-policy", o->pull_policy, "never, new or update")->capture_default_str();
    cmd->add_option("--signature", o->signature, "local signature file");
    cmd->callback([&ctx, o] {
        log::set_prefix("fetch");
        PullPolicy policy = parse_pull_policy(o->pull_policy);
        for (const auto& ref : o->images) {
            auto info = obtain_image(ctx, {ref, policy, o->signature});
            std::cout << (o->full ? info.id : info.id.substr(0, 7 + 32)) << std::endl;
        }
    });
}

}  // namespace rkt::commands
