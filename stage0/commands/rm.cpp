// rkt rm
#include <iostream>

#include "common/error.h"
#include "common/log.h"
#include "stage0/commands/commands.h"
#include "stage0/commands/pod_args.h"
#include "stage0/pod/pod_remover.h"

namespace rkt::commands {

void add_rm(CLI::App& app, Context& ctx) {
    struct Opts {
        std::vector<std::string> uuids;
        std::string uuid_file;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand("rm", "Remove pods that are not running");
    cmd->add_option("UUIDS", o->uuids, "pods to remove");
    cmd->add_option("--uuid-file", o->uuid_file, "read the pod's UUID from this file");
    cmd->callback([&ctx, o] {
        log::set_prefix("rm");
        Context::ensure_superuser();
        int failures = 0;
        for (auto p : resolve_pods(ctx, o->uuids, o->uuid_file)) {
            using pod::State;
            using pod::StateDir;
            try {
                switch (p.state()) {
                    case State::kExited:
                        ctx.pods().move(p.uuid(), StateDir::kRun, StateDir::kExitedGarbage);
                        break;
                    case State::kPrepared:
                        ctx.pods().move(p.uuid(), StateDir::kPrepared, StateDir::kGarbage);
                        break;
                    case State::kAbortedPrepare:
                        ctx.pods().move(p.uuid(), StateDir::kPrepare, StateDir::kGarbage);
                        break;
                    case State::kExitedGarbage:
                    case State::kGarbage:
                        break;
                    default:
                        throw Error("pod \"" + p.uuid() + "\" is " + pod::state_name(p.state()) +
                                    "; stop it first (rkt stop)");
                }
                auto moved = ctx.pods().refresh(p);
                if (!moved || !sweep_pod(ctx, *moved))
                    throw Error("pod \"" + p.uuid() + "\" is busy; try again");
                std::cout << "\"" << p.uuid() << "\"" << std::endl;
            } catch (const Error& e) {
                log::info(e.what());
                ++failures;
            }
        }
        if (failures) ctx.exit_code = kErrorExitCode;
    });
}

}  // namespace rkt::commands
