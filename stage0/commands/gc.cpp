// rkt gc: mark exited and expired pods as garbage, then remove garbage past its grace period.
#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"
#include "stage0/commands/commands.h"
#include "stage0/pod/pod_remover.h"

namespace rkt::commands {

void add_gc(CLI::App& app, Context& ctx) {
    struct Opts {
        std::string grace = "30m";
        std::string expire_prepared = "24h";
        bool mark_only = false;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand("gc", "Garbage collect pods that have exited");
    cmd->add_option("--grace-period", o->grace, "time before an exited pod is removed")
        ->capture_default_str();
    cmd->add_option("--expire-prepared", o->expire_prepared,
                    "time before a prepared pod that never ran is removed")
        ->capture_default_str();
    cmd->add_flag("--mark-only", o->mark_only, "only mark pods as garbage; remove nothing");
    cmd->callback([&ctx, o] {
        log::set_prefix("gc");
        Context::ensure_superuser();
        auto grace = strings::parse_duration(o->grace);
        if (!grace)
            throw Error("--grace-period: \"" + o->grace + "\" is not a duration (e.g. 30m)");
        auto expire = strings::parse_duration(o->expire_prepared);
        if (!expire)
            throw Error("--expire-prepared: \"" + o->expire_prepared + "\" is not a duration");
        using pod::State;
        using pod::StateDir;
        auto now = pod::Clock::now();
        for (const auto& p : ctx.pods().list()) {
            try {
                if (p.state() == State::kExited) {
                    ctx.pods().move(p.uuid(), StateDir::kRun, StateDir::kExitedGarbage);
                    log::info("moving pod \"" + p.uuid() + "\" to garbage");
                } else if (p.state() == State::kAbortedPrepare) {
                    ctx.pods().move(p.uuid(), StateDir::kPrepare, StateDir::kGarbage);
                    log::info("moving failed prepare \"" + p.uuid() + "\" to garbage");
                } else if (p.state() == State::kPrepared && now - p.state_changed() >= *expire) {
                    ctx.pods().move(p.uuid(), StateDir::kPrepared, StateDir::kGarbage);
                    log::info("moving expired prepared pod \"" + p.uuid() + "\" to garbage");
                } else if (p.state() == State::kEmbryo && now - p.state_changed() >= *expire) {
                    // An embryo older than any prepare is debris of a killed rkt.
                    ctx.pods().move(p.uuid(), StateDir::kEmbryo, StateDir::kGarbage);
                }
            } catch (const Error& e) {
                log::warn(e.what());  // it moved on under us; the next gc sees it again
            }
        }
        if (o->mark_only) return;
        // Marking just now set the marked pods' ctime: measure the grace period from here.
        now = pod::Clock::now();
        for (const auto& p : ctx.pods().list()) {
            try {
                if (p.state() == State::kExitedGarbage) {
                    if (now - p.state_changed() < *grace) {
                        log::info("pod \"" + p.uuid() +
                                  "\" not removed: still within grace period (" +
                                  strings::format_duration(*grace) + ")");
                        continue;
                    }
                } else if (p.state() != State::kGarbage) {
                    continue;
                }
                if (sweep_pod(ctx, p)) log::info("pod \"" + p.uuid() + "\" removed");
            } catch (const Error& e) {
                log::warn("cannot remove pod \"" + p.uuid() + "\": " + e.what());
            }
        }
    });
}

}  // namespace rkt::commands
