// rkt status
#include <iostream>
#include <thread>
#include <utility>

#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"
#include "stage0/commands/commands.h"
#include "stage0/commands/json_output.h"
#include "stage0/commands/pod_args.h"
#include "stage0/commands/pod_info.h"

namespace rkt::commands {

namespace {

using namespace std::chrono_literals;

// --wait / --wait-ready take nothing (wait forever), true/false, or a duration.
std::optional<std::chrono::milliseconds> wait_spec(const std::string& flag, const std::string& v,
                                                   bool given) {
    if (!given || v == "false") return std::nullopt;
    if (v.empty() || v == "true") return std::chrono::milliseconds::max();
    auto d = strings::parse_duration(v);
    if (!d) throw Error(flag + " takes true, false or a duration such as 30s, not \"" + v + "\"");
    return d;
}

}  // namespace

void add_status(CLI::App& app, Context& ctx) {
    struct Opts {
        std::string uuid;
        std::string uuid_file;
        std::string format;
        std::string wait;
        std::string wait_ready;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand("status", "Check the status of a pod");
    cmd->add_option("UUID", o->uuid, "the pod's UUID or an unambiguous prefix");
    cmd->add_option("--uuid-file", o->uuid_file, "read the pod's UUID from this file");
    cmd->add_option("--format", o->format, "output format: json or json-pretty");
    auto* wait = cmd->add_option("--wait", o->wait,
                                 "wait for the pod to exit (true, false or a timeout such as 10s)")
                     ->expected(0, 1);
    auto* wait_ready = cmd->add_option("--wait-ready", o->wait_ready,
                                       "wait for the pod to be running (true, false or a timeout)")
                           ->expected(0, 1);
    cmd->callback([&ctx, o, wait, wait_ready] {
        log::set_prefix("status");
        check_json_format(o->format);
        // `--wait UUID`: the optional value of --wait took the UUID; give it back.
        for (std::string* v : {&o->wait, &o->wait_ready}) {
            bool value_like = v->empty() || *v == "true" || *v == "false" ||
                              strings::parse_duration(*v).has_value();
            if (!value_like && o->uuid.empty()) o->uuid = std::exchange(*v, "");
        }
        std::vector<std::string> uuids;
        if (!o->uuid.empty()) uuids.push_back(o->uuid);
        pod::Pod p = resolve_pods(ctx, uuids, o->uuid_file).front();
        auto poll_until = [&](std::chrono::milliseconds limit, auto done, const char* what) {
            if (!p.state_known())
                throw Error("cannot wait for pod " + p.uuid() + " to " + what +
                            ": this user may not probe its lock (run as root)");
            auto deadline = limit == std::chrono::milliseconds::max()
                                ? std::chrono::steady_clock::time_point::max()
                                : std::chrono::steady_clock::now() + limit;
            while (!done()) {
                if (std::chrono::steady_clock::now() >= deadline)
                    throw Error(std::string("timed out waiting for the pod to ") + what);
                std::this_thread::sleep_for(100ms);
                auto fresh = ctx.pods().refresh(p);
                if (!fresh) throw Error("pod " + p.uuid() + " disappeared");
                p = *fresh;
                if (!p.state_known())
                    throw Error("cannot wait for pod " + p.uuid() + " to " + what +
                                ": this user may not probe its lock (run as root)");
            }
        };
        if (auto limit = wait_spec("--wait-ready", o->wait_ready, wait_ready->count() > 0))
            poll_until(
                *limit, [&] { return p.is_running() && p.pid().has_value(); }, "be running");
        if (auto limit = wait_spec("--wait", o->wait, wait->count() > 0))
            poll_until(
                *limit,
                [&] {
                    return !p.is_running() && p.state() != pod::State::kPreparing &&
                           p.state() != pod::State::kPrepared && p.state() != pod::State::kEmbryo;
                },
                "exit");
        if (!o->format.empty()) {
            auto j = pod_to_json(p);
            print_json(j, o->format);
            return;
        }
        std::cout << status_text(p);
    });
}

}  // namespace rkt::commands
