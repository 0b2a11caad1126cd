// rkt stop
#include <iostream>

#include "common/error.h"
#include "common/log.h"
#include "stage0/commands/commands.h"
#include "stage0/commands/pod_args.h"
#include "stage0/pod/stage1_launch.h"

namespace rkt::commands {

void add_stop(CLI::App& app, Context& ctx) {
    struct Opts {
        std::vector<std::string> uuids;
        std::string uuid_file;
        bool force = false;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand("stop", "Stop running pods");
    cmd->add_option("UUIDS", o->uuids, "pods to stop");
    cmd->add_option("--uuid-file", o->uuid_file, "read the pod's UUID from this file");
    cmd->add_flag("--force", o->force, "end the pod at once, without a grace time");
    cmd->callback([&ctx, o] {
        log::set_prefix("stop");
        int failures = 0;
        for (const auto& p : resolve_pods(ctx, o->uuids, o->uuid_file)) {
            if (p.is_finished()) {
                log::info("pod \"" + p.uuid() + "\" is already stopped");
                continue;
            }
            if (!p.is_running()) {
                log::info("pod \"" + p.uuid() + "\" is not running (it is " +
                          pod::state_name(p.state()) + ")");
                ++failures;
                continue;
            }
            std::vector<std::string> args;
            if (o->force) args.push_back("--force");
            args.push_back(p.uuid());
            int code = run_stage1_entrypoint(load_pod_stage1(p.path()), "stop", p.path(), args);
            if (code != 0) {
                log::info("cannot stop pod \"" + p.uuid() + "\": stage1 stop exited with " +
                          std::to_string(code));
                ++failures;
                continue;
            }
            std::cout << "\"" << p.uuid() << "\"" << std::endl;
        }
        if (failures) ctx.exit_code = kErrorExitCode;
    });
}

}  // namespace rkt::commands
