#include "stage0/app_args.h"

#include "common/error.h"

namespace rkt {

const std::vector<AppFlagSpec>& app_flag_specs() {
    static const std::vector<AppFlagSpec> specs = {
        {"exec", "override the image's entrypoint"},
        {"name", "set the app's name (default: from the image name)"},
        {"user", "user to run the app as (name or uid)"},
        {"group", "group to run the app as (name or gid)"},
        {"supplementary-gids", "comma-separated supplementary group ids"},
        {"working-dir", "working directory of the app"},
        {"readonly-rootfs", "mount the app's root filesystem read-only", true},
        {"memory", "memory limit, e.g. 50M, 16Mi"},
        {"cpu", "CPU limit, e.g. 500m, 2"},
        {"cpu-shares", "CPU shares (relative weight)"},
        {"pids-limit", "most processes and threads the app may have, or max (default 4096)"},
        {"caps-retain", "capabilities to keep (replaces the default set), comma-separated"},
        {"caps-remove", "capabilities to remove from the default set, comma-separated"},
        {"seccomp", "seccomp filter: mode=retain|remove[,errno=ERRNO],syscall,..."},
        {"oom-score-adj", "oom_score_adj of the app"},
        {"signature", "local signature file for the image"},
        {"environment", "set an environment variable for this app (NAME=VALUE)", false, true},
        {"mount", "mount a volume: volume=NAME,target=PATH", false, true},
        {"annotation", "app annotation NAME=VALUE", false, true},
        {"user-annotation", "app user annotation NAME=VALUE (appc userAnnotations)", false, true},
        {"user-label", "app user label NAME=VALUE (appc userLabels)", false, true},
    };
    return specs;
}

void AppFlags::inherit(const AppFlags& d) {
    auto take = [](auto& mine, const auto& theirs) {
        if (!mine && theirs) mine = theirs;
    };
    take(exec, d.exec);
    take(name, d.name);
    take(user, d.user);
    take(group, d.group);
    take(supplementary_gids, d.supplementary_gids);
    take(working_dir, d.working_dir);
    take(readonly_rootfs, d.readonly_rootfs);
    take(memory, d.memory);
    take(cpu, d.cpu);
    take(cpu_shares, d.cpu_shares);
    take(pids_limit, d.pids_limit);
    take(caps_retain, d.caps_retain);
    take(caps_remove, d.caps_remove);
    take(seccomp, d.seccomp);
    take(oom_score_adj, d.oom_score_adj);
    take(signature, d.signature);
    environment.insert(environment.begin(), d.environment.begin(), d.environment.end());
    mounts.insert(mounts.begin(), d.mounts.begin(), d.mounts.end());
    annotations.insert(annotations.begin(), d.annotations.begin(), d.annotations.end());
    user_annotations.insert(user_annotations.begin(), d.user_annotations.begin(),
                            d.user_annotations.end());
    user_labels.insert(user_labels.begin(), d.user_labels.begin(), d.user_labels.end());
}

namespace {
bool parse_bool(const std::string& name, const std::string& v) {
    if (v == "true" || v == "1" || v.empty()) return true;
    if (v == "false" || v == "0") return false;
    throw Error("--" + name + " takes true or false, not \"" + v + "\"");
}

const AppFlagSpec* find_spec(const std::string& name) {
    for (const auto& s : app_flag_specs())
        if (name == s.name) return &s;
    return nullptr;
}
}  // namespace

void set_app_flag(AppFlags& f, const std::string& name, const std::string& value) {
    if (name == "exec")
        f.exec = value;
    else if (name == "name")
        f.name = value;
    else if (name == "user")
        f.user = value;
    else if (name == "group")
        f.group = value;
    else if (name == "supplementary-gids")
        f.supplementary_gids = value;
    else if (name == "working-dir")
        f.working_dir = value;
    else if (name == "readonly-rootfs")
        f.readonly_rootfs = parse_bool(name, value);
    else if (name == "memory")
        f.memory = value;
    else if (name == "cpu")
        f.cpu = value;
    else if (name == "cpu-shares")
        f.cpu_shares = value;
    else if (name == "pids-limit")
        f.pids_limit = value;
    else if (name == "caps-retain" || name == "cap-retain")
        f.caps_retain = value;
    else if (name == "caps-remove" || name == "cap-remove")
        f.caps_remove = value;
    else if (name == "seccomp")
        f.seccomp = value;
    else if (name == "oom-score-adj")
        f.oom_score_adj = value;
    else if (name == "signature")
        f.signature = value;
    else if (name == "environment")
        f.environment.push_back(value);
    else if (name == "mount")
        f.mounts.push_back(value);
    else if (name == "annotation")
        f.annotations.push_back(value);
    else if (name == "user-annotation")
        f.user_annotations.push_back(value);
    else if (name == "user-label")
        f.user_labels.push_back(value);
    else
        throw Error("unknown app flag --" + name);
}

std::vector<AppRequest> parse_app_args(const std::vector<std::string>& args,
                                       const AppFlags& defaults) {
    std::vector<AppRequest> apps;
    bool in_args = false;  // after `--`, until `---`
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& tok = args[i];
        if (tok == "---") {
            if (apps.empty()) throw Error("\"---\" must follow an image");
            in_args = false;
            continue;
        }
        if (in_args) {
            apps.back().args->push_back(tok);
            continue;
        }
        if (tok == "--") {
            if (apps.empty()) throw Error("\"--\" must follow an image: IMAGE -- ARGS");
            if (apps.back().args)
                throw Error("app arguments for image \"" + apps.back().image + "\" given twice");
            apps.back().args.emplace();
            in_args = true;
            continue;
        }
        if (tok.size() > 2 && tok.rfind("--", 0) == 0) {
            std::string name = tok.substr(2), value;
            bool has_value = false;
            if (auto eq = name.find('='); eq != std::string::npos) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
                has_value = true;
            }
            const AppFlagSpec* spec = find_spec(name);
            if (!spec && name != "cap-retain" && name != "cap-remove")
                throw Error("unknown flag --" + name +
                            " after an image (pod flags go before the first image)");
            if (apps.empty()) throw Error("internal: app flag before any image");
            if (!has_value && !(spec && spec->boolean)) {
                if (i + 1 >= args.size()) throw Error("flag --" + name + " needs a value");
                value = args[++i];
            }
            set_app_flag(apps.back().flags, name, value);
            continue;
        }
        if (tok.size() > 1 && tok[0] == '-' && tok != "-")
            throw Error("unknown flag " + tok + " after an image");
        AppRequest req;
        req.image = tok;
        apps.push_back(std::move(req));
    }
    for (auto& app : apps) app.flags.inherit(defaults);
    return apps;
}

}  // namespace rkt
