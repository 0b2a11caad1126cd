// rkt enter: run a command inside a running pod's app, with that app's isolation.
#include <unistd.h>

#include <iostream>

#include "common/error.h"
#include "common/log.h"
#include "stage0/commands/commands.h"
#include "stage0/commands/pod_args.h"
#include "stage0/stage1.h"

namespace rkt::commands {

void add_enter(CLI::App& app, Context& ctx) {
    struct Opts {
        std::string app;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand("enter", "Run a command in a running pod's app");
    cmd->add_option("--app", o->app, "the app to enter (required when the pod has several)");
    cmd->footer("\nUsage: rkt enter [--app=NAME] UUID [CMD [ARGS...]]");
    cmd->prefix_command();
    cmd->callback([&ctx, o, cmd] {
        log::set_prefix("enter");
        Context::ensure_superuser();
        auto rest = cmd->remaining();
        if (!rest.empty() && rest.front() == "--") rest.erase(rest.begin());
        if (rest.empty()) throw Error("give the UUID of a running pod");
        pod::Pod p = ctx.pods().resolve(rest.front());
        rest.erase(rest.begin());
        if (!rest.empty() && rest.front() == "--") rest.erase(rest.begin());
        if (!p.is_running()) throw Error("pod " + p.uuid() + " is not running");
        auto m = p.manifest();
        if (!m) throw Error("pod " + p.uuid() + " has no manifest");
        std::string app_name = o->app;
        if (app_name.empty()) {
            if (m->apps.size() != 1) {
                std::cerr << "Pod apps:\n";
                for (const auto& a : m->apps) std::cerr << "\t" << a.name << "\n";
                throw Error("specify app using \"rkt enter --app= ...\"");
            }
            app_name = m->apps.front().name;
        } else if (!m->find_app(app_name)) {
            throw Error("pod " + p.uuid() + " has no app named \"" + app_name + "\"");
        }
        if (rest.empty()) {
            log::info("no command specified, assuming \"/bin/sh\"");
            rest.push_back("/bin/sh");
        }
        Stage1 stage1 = load_pod_stage1(p.path());
        std::string entry = stage1.entrypoint("enter").string();
        std::vector<std::string> argv = {entry, "--app=" + app_name, p.uuid(), "--"};
        argv.insert(argv.end(), rest.begin(), rest.end());
        if (::chdir(p.path().c_str()) != 0) throw system_error("cannot enter the pod directory");
        std::vector<char*> cargv;
        for (auto& a : argv) cargv.push_back(a.data());
        cargv.push_back(nullptr);
        ::execv(entry.c_str(), cargv.data());
        throw system_error("cannot execute " + entry);
    });
}

}  // namespace rkt::commands
