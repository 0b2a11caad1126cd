#include "stage0/pod/pod_spec_builder.h"

#include <algorithm>
#include <cstdint>

#include "common/app_environment.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/isolation.h"
#include "common/log.h"
#include "common/strings.h"
#include "stage0/pod/network_flags.h"

extern char** environ;

namespace rkt {

namespace {

// NAME=VALUE of a flag; `env` checks NAME as an environment variable name (--set-env,
// --environment), not for annotations and labels.
EnvVar parse_env_assignment(const std::string& s, const std::string& flag, bool env = false) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0)
        throw Error(flag + " expects NAME=VALUE, got \"" + strings::printable(s, 80) + "\"");
    EnvVar var{s.substr(0, eq), s.substr(eq + 1)};
    if (env) check_env_var(var, flag);
    return var;
}

// key=value,key=value → map, in order; the first field may be a bare name.
std::vector<std::pair<std::string, std::string>> parse_kv_list(const std::string& spec) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& field : strings::split(spec, ',')) {
        auto eq = field.find('=');
        if (eq == std::string::npos)
            out.emplace_back("", field);
        else
            out.emplace_back(field.substr(0, eq), field.substr(eq + 1));
    }
    return out;
}

bool parse_bool_value(const std::string& v, const std::string& what) {
    if (v == "true") return true;
    if (v == "false") return false;
    throw Error(what + " must be true or false, not \"" + v + "\"");
}

void add_isolators(AppSpec& app, const AppFlags& f) {
    if (f.memory) {
        if (!strings::parse_memory_quantity(*f.memory))
            throw Error("--memory: \"" + *f.memory + "\" is not a quantity (e.g. 50M, 16Mi)");
        app.set_isolator("resource/memory", {{"limit", *f.memory}});
    }
    if (f.cpu) {
        if (!strings::parse_cpu_quantity(*f.cpu))
            throw Error("--cpu: \"" + *f.cpu + "\" is not a quantity (e.g. 500m, 2)");
        app.set_isolator("resource/cpu", {{"limit", *f.cpu}});
    }
    if (f.cpu_shares) {
        if (!strings::is_decimal(*f.cpu_shares))
            throw Error("--cpu-shares must be a number, not \"" + *f.cpu_shares + "\"");
        app.set_isolator("resource/cpu-shares", {{"value", std::stoul(*f.cpu_shares)}});
    }
    if (f.pids_limit) {
        isolation::parse_pids_limit(*f.pids_limit, "--pids-limit");
        app.set_isolator(std::string(isolation::kPidsIsolator), {{"limit", *f.pids_limit}});
    }
    isolation::apply_isolator_flags(app, {f.caps_retain, f.caps_remove, f.seccomp});
    if (f.oom_score_adj) {
        int v = 0;
        try {
            v = std::stoi(*f.oom_score_adj);
        } catch (...) {
            v = 9999;
        }
        if (v < -1000 || v > 1000) throw Error("--oom-score-adj must be between -1000 and 1000");
        app.set_isolator("os/linux/oom-score-adj", v);
    }
}

std::vector<std::string> compose_exec(const AppIntent& want, const store::ImageConfig& cfg,
                                      const std::string& hint) {
    std::vector<std::string> exec;
    if (want.exec) {
        // An exec of its own replaces the command; the image's arguments only suit its own.
        exec.push_back(*want.exec);
        if (want.args) exec.insert(exec.end(), want.args->begin(), want.args->end());
    } else {
        exec = cfg.entrypoint;
        const auto& args = want.args ? *want.args : cfg.cmd;
        exec.insert(exec.end(), args.begin(), args.end());
    }
    if (exec.empty() || exec.front().empty())
        throw Error("image \"" + want.image + "\" has no entrypoint or command; " + hint);
    return exec;
}

}  // namespace

std::string normalize_mount_target(const std::string& target) {
    if (target.empty()) throw Error("mount target cannot be empty");
    if (target.find('\0') != std::string::npos) throw Error("mount target holds a NUL byte");
    std::filesystem::path p = std::filesystem::path("/") / target;
    p = p.lexically_normal();
    std::string s = p.string();
    if (s.find("/..") != std::string::npos || s == "/")
        throw Error("mount target \"" + target + "\" must name a directory inside the app");
    if (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
}

void check_volume(const Volume& v, const std::string& where) {
    if (!strings::is_valid_acname(v.name))
        throw Error(where + ": \"" + v.name +
                    "\" is not a valid volume name (lower-case letters, digits, dashes)");
    const std::string prefix = where + " " + v.name + ": ";
    if (v.kind == "host") {
        if (v.source.empty() || v.source[0] != '/' || v.source.find('\0') != std::string::npos)
            throw Error(prefix + "kind=host needs an absolute source path");
        std::error_code ec;
        if (!std::filesystem::exists(v.source, ec))
            throw Error(prefix + "source " + v.source + " does not exist");
    } else if (v.kind == "empty") {
        if (!v.source.empty()) throw Error(prefix + "kind=empty takes no source");
        if (v.mode.empty() || v.mode.size() > 4 ||
            v.mode.find_first_not_of("01234567") != std::string::npos)
            throw Error(prefix + "mode must be octal, e.g. 0755");
    } else {
        throw Error(prefix + "kind must be host or empty, not \"" + v.kind + "\"");
    }
}

namespace {
std::string bad_volume_option(const std::string& volume, const std::string& key,
                              const std::string& value) {
    std::string message = "--volume " + volume + ": unknown or bad option \"";
    message += key;
    message += '=';
    message += value;
    message += '"';
    return message;
}
}  // namespace

Volume parse_volume_flag(const std::string& spec) {
    auto fields = parse_kv_list(spec);
    Volume v;
    if (fields.empty() || !fields[0].first.empty() || fields[0].second.empty())
        throw Error(
            "--volume must start with a name: NAME,kind=host,source=PATH or NAME,kind=empty");
    v.name = fields[0].second;
    if (!strings::is_valid_acname(v.name)) check_volume(v, "--volume");  // names the problem
    auto id_value = [&](const std::string& val) {
        if (!strings::is_decimal(val) || val.size() > 10 || std::stoull(val) > UINT32_MAX)
            throw Error("--volume " + v.name + ": uid and gid must be numbers");
        return static_cast<uint32_t>(std::stoul(val));
    };
    for (size_t i = 1; i < fields.size(); ++i) {
        const auto& [k, val] = fields[i];
        if (k == "kind")
            v.kind = val;
        else if (k == "source")
            v.source = val;
        else if (k == "readOnly")
            v.read_only = parse_bool_value(val, "--volume readOnly");
        else if (k == "recursive")
            v.recursive = parse_bool_value(val, "--volume recursive");
        else if (k == "mode")
            v.mode = val;
        else if (k == "uid")
            v.uid = id_value(val);
        else if (k == "gid")
            v.gid = id_value(val);
        else
            throw Error(bad_volume_option(v.name, k, val));
    }
    check_volume(v, "--volume");
    return v;
}

AppMount parse_mount_flag(const std::string& spec) {
    AppMount m;
    for (const auto& [k, v] : parse_kv_list(spec)) {
        if (k == "volume")
            m.volume = v;
        else if (k == "target")
            m.path = v;
        else
            throw Error("--mount expects volume=NAME,target=PATH, got \"" + spec + "\"");
    }
    if (m.volume.empty() || m.path.empty())
        throw Error("--mount expects volume=NAME,target=PATH, got \"" + spec + "\"");
    m.path = normalize_mount_target(m.path);
    return m;
}

std::vector<EnvVar> read_env_file(const std::filesystem::path& path) {
    std::string text =
        with_context("--set-env-file", [&] { return fs::read_file_limited(path, 1 << 20); });
    std::vector<EnvVar> out;
    int lineno = 0;
    for (const auto& raw : strings::split(text, '\n')) {
        ++lineno;
        std::string line = strings::trim(raw);
        if (line.empty() || line[0] == '#' || line[0] == ';') continue;
        auto eq = line.find('=');
        std::string where = "--set-env-file " + path.string() + " line " + std::to_string(lineno);
        if (eq == std::string::npos || eq == 0) throw Error(where + ": expected NAME=VALUE");
        EnvVar var{line.substr(0, eq), line.substr(eq + 1)};
        check_env_var(var, where);
        out.push_back(std::move(var));
    }
    return out;
}

PodIntent pod_intent_from_flags(const PodFlags& flags, const std::vector<AppRequest>& apps) {
    PodIntent intent;
    for (const auto& v : flags.volumes) intent.volumes.push_back(parse_volume_flag(v));
    // Environment, low to high precedence: the image, --set-env-file, --set-env, --environment;
    // then --inherit-env fills only what is still unset.
    std::vector<EnvVar> pod_env;
    if (!flags.set_env_file.empty()) pod_env = read_env_file(flags.set_env_file);
    for (const auto& e : flags.set_env)
        pod_env.push_back(parse_env_assignment(e, "--set-env", true));

    for (const AppRequest& req : apps) {
        AppIntent a;
        a.image = req.image;
        a.name = req.flags.name;
        a.exec = req.flags.exec;
        a.args = req.args;
        a.environment = pod_env;
        for (const auto& e : req.flags.environment)
            a.environment.push_back(parse_env_assignment(e, "--environment", true));
        a.inherit_env = flags.inherit_env;
        a.user = req.flags.user;
        a.group = req.flags.group;
        if (req.flags.supplementary_gids) {
            for (const auto& g : strings::split(*req.flags.supplementary_gids, ',')) {
                if (!strings::is_decimal(g) || g.size() > 10 || std::stoull(g) > UINT32_MAX)
                    throw Error("--supplementary-gids must be comma-separated numbers");
                a.supplementary_gids.push_back(static_cast<uint32_t>(std::stoul(g)));
            }
        }
        a.working_dir = req.flags.working_dir;
        AppSpec with_isolators;
        add_isolators(with_isolators, req.flags);
        a.isolators = std::move(with_isolators.isolators);
        for (const auto& m : req.flags.mounts) a.mounts.push_back(parse_mount_flag(m));
        a.read_only_rootfs = req.flags.readonly_rootfs.value_or(false);
        for (const auto& an : req.flags.annotations) {
            EnvVar kv = parse_env_assignment(an, "--annotation");
            a.annotations[kv.name] = kv.value;
        }
        for (const auto& an : req.flags.user_annotations) {
            EnvVar kv = parse_env_assignment(an, "--user-annotation");
            a.user_annotations[kv.name] = kv.value;
        }
        for (const auto& label : req.flags.user_labels) {
            EnvVar kv = parse_env_assignment(label, "--user-label");
            a.user_labels[kv.name] = kv.value;
        }
        intent.apps.push_back(std::move(a));
    }
    return intent;
}

namespace {

// Every variable is checked here whatever its source (the command line and pod manifests were
// checked when read, the image's config only now), so no pod file holds a bad name.
void fill_environment(AppSpec& app, const AppIntent& want, const store::ImageInfo& image) {
    for (const auto& e : image.config.env) {
        check_env_var(e, "image " + image.full_name() + ": environment");
        app.set_env(e.name, e.value);
    }
    for (const auto& e : want.environment) {
        check_env_var(e, "environment");
        app.set_env(e.name, e.value);
    }
    if (want.inherit_env) {
        for (char** e = environ; e && *e; ++e) {
            std::string s(*e);
            auto eq = s.find('=');
            if (eq == std::string::npos || eq == 0) continue;
            std::string name = s.substr(0, eq);
            if (!is_valid_env_name(name)) {
                log::warn("--inherit-env: not passing \"" + strings::printable(name, 80) +
                          "\", which is not a variable name");
                continue;
            }
            if (!app.env(name)) app.set_env(name, s.substr(eq + 1));
        }
    }
    if (!app.env("PATH")) app.set_env("PATH", std::string(kDefaultAppPath));
}

// User and group: what was asked over the image's "user[:group]"; resolved to numbers against
// the image's own /etc/passwd and /etc/group.
void fill_identity(AppSpec& app, const AppIntent& want, const store::ImageConfig& cfg,
                   const std::filesystem::path& rootfs) {
    std::string img_user = cfg.user, img_group;
    if (auto c = img_user.find(':'); c != std::string::npos) {
        img_group = img_user.substr(c + 1);
        img_user = img_user.substr(0, c);
    }
    app.user = want.user.value_or(img_user);
    app.group = want.group.value_or(want.user ? "" : img_group);
    app.supplementary_gids = want.supplementary_gids;
    isolation::Identity ids = isolation::resolve_identity(app, rootfs);
    app.user = std::to_string(ids.uid);
    app.group = std::to_string(ids.gid);
    app.supplementary_gids.assign(ids.supplementary_gids.begin(), ids.supplementary_gids.end());
}

}  // namespace

PodManifest build_pod_manifest(const PodIntent& intent, const std::vector<PodAppImage>& images) {
    if (images.size() != intent.apps.size())
        throw Error("internal: " + std::to_string(images.size()) + " images for " +
                    std::to_string(intent.apps.size()) + " apps");
    PodManifest pm;
    for (const Volume& vol : intent.volumes) {
        if (pm.find_volume(vol.name)) throw Error("volume \"" + vol.name + "\" is defined twice");
        pm.volumes.push_back(vol);
    }
    pm.annotations = intent.annotations;

    for (size_t i = 0; i < intent.apps.size(); ++i) {
        const AppIntent& want = intent.apps[i];
        const store::ImageInfo& image = images[i].image;
        const store::ImageConfig& cfg = image.config;
        RuntimeApp ra;
        ra.name = want.name ? *want.name : strings::image_name_to_app_name(image.name);
        if (!strings::is_valid_acname(ra.name))
            throw Error("app name \"" + ra.name +
                        "\" is not valid: use lower-case letters, digits and dashes");
        if (pm.find_app(ra.name))
            throw Error("app name \"" + ra.name +
                        "\" is used by more than one app; give each a unique --name");
        ra.image = {image.full_name(), image.id};
        AppSpec& app = ra.app;
        app.exec = compose_exec(want, cfg, intent.exec_hint);
        fill_environment(app, want, image);
        with_context("app " + ra.name, [&] {
            fill_identity(app, want, cfg, images[i].rootfs);
            app.working_directory = want.working_dir.value_or(cfg.working_dir);
            if (app.working_directory.empty()) app.working_directory = "/";
            if (app.working_directory[0] != '/')
                throw Error("working directory \"" + app.working_directory + "\" must be absolute");
            // The stage1s apply these; refuse a bad one now rather than when the pod starts.
            app.isolators = want.isolators;
            isolation::policy_from_isolators(app.isolators, {});
            isolation::resource_limits(app.isolators);
        });
        app.mount_points = want.mount_points;
        // The image's exposed ports join those asked for (a --pod-manifest's), as docker2aci
        // named them, so that --port can name them.
        app.ports = want.ports;
        for (PortSpec& p : ports_from_exposed(cfg.exposed_ports)) {
            bool known = std::any_of(app.ports.begin(), app.ports.end(), [&](const PortSpec& o) {
                return o.name == p.name || (o.port == p.port && o.protocol == p.protocol);
            });
            if (!known) app.ports.push_back(std::move(p));
        }
        app.user_annotations = want.user_annotations;
        app.user_labels = want.user_labels;
        for (const AppMount& mount : want.mounts) {
            if (!pm.find_volume(mount.volume))
                throw Error("app " + ra.name + " mounts volume \"" + mount.volume +
                            "\", which no volume of the pod defines");
            for (const AppMount& other : ra.mounts)
                if (other.path == mount.path)
                    throw Error("app " + ra.name + " mounts two volumes on " + mount.path);
            ra.mounts.push_back(mount);
        }
        ra.read_only_rootfs = want.read_only_rootfs;
        ra.annotations = want.annotations;
        pm.apps.push_back(std::move(ra));
    }
    return pm;
}

namespace {

// Sums one limit over the pod's apps, each read as the stage1s read it (a quantity may be a
// string or a number); saturates rather than wraps. nullopt when no app sets it.
std::optional<uint64_t> sum_limit(const PodManifest& pm,
                                  std::optional<uint64_t> isolation::ResourceLimits::*limit) {
    std::optional<uint64_t> total;
    for (const auto& a : pm.apps) {
        if (auto q = isolation::resource_limits(a.app.isolators).*limit) {
            uint64_t sum = total.value_or(0) + *q;
            total = sum < *q ? UINT64_MAX : sum;
        }
    }
    return total;
}

}  // namespace

std::optional<uint64_t> total_memory_limit(const PodManifest& pm) {
    return sum_limit(pm, &isolation::ResourceLimits::memory_bytes);
}

std::optional<uint64_t> total_cpu_limit(const PodManifest& pm) {
    return sum_limit(pm, &isolation::ResourceLimits::cpu_millis);
}

}  // namespace rkt
