// rkt cat-manifest
#include <iostream>

#include "common/error.h"
#include "common/log.h"
#include "stage0/commands/commands.h"
#include "stage0/commands/pod_args.h"

namespace rkt::commands {

void add_cat_manifest(CLI::App& app, Context& ctx) {
    struct Opts {
        std::string uuid;
        std::string uuid_file;
        bool pretty = true;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand("cat-manifest", "Print the manifest of a pod");
    cmd->add_option("UUID", o->uuid, "the pod's UUID or an unambiguous prefix");
    cmd->add_option("--uuid-file", o->uuid_file, "read the pod's UUID from this file");
    cmd->add_option("--pretty-print", o->pretty, "indent the JSON")->capture_default_str();
    cmd->callback([&ctx, o] {
        log::set_prefix("cat-manifest");
        std::vector<std::string> uuids;
        if (!o->uuid.empty()) uuids.push_back(o->uuid);
        pod::Pod p = resolve_pods(ctx, uuids, o->uuid_file).front();
        auto m = p.manifest();
        if (!m) throw Error("pod \"" + p.uuid() + "\" has no manifest yet");
        std::cout << m->serialize(o->pretty) << "\n";
    });
}

}  // namespace rkt::commands
