#include "common/app_environment.h"

#include "common/error.h"

namespace rkt {

std::vector<std::string> app_environment(const RuntimeApp& app, const std::string& home,
                                         const std::string& term) {
    AppSpec spec = app.app;
    if (!spec.env("PATH")) spec.set_env("PATH", std::string(kDefaultAppPath));
    if (!spec.env("HOME")) spec.set_env("HOME", home);
    if (!term.empty() && !spec.env("TERM")) spec.set_env("TERM", term);
    spec.set_env("AC_APP_NAME", app.name);
    std::vector<std::string> env;
    for (const auto& e : spec.environment) {
        check_env_var(e, "app " + app.name + ": environment");
        env.push_back(e.name + "=" + e.value);
    }
    return env;
}

}  // namespace rkt
