#include "stage0/pod/pod_spec_builder.h"

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"
#include "common/isolation.h"

extern char** environ;

namespace rkt {

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

EnvVar parse_env_assignment(const std::string& s, const std::string& flag) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0)
        throw Error(flag + " expects NAME=VALUE, got \"" + s + "\"");
    return {s.substr(0, eq), s.substr(eq + 1)};
}

// key=value,key=value → map, in order; the first field may be a bare name.
std::vector<std::pair<std::string, std::string>> parse_kv_list(const std::string& spec) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& field : strings::split(spec, ',')) {
        auto eq = field.find('=');
        if (eq == std::string::npos) out.emplace_back("", field);
        else out.emplace_back(field.substr(0, eq), field.substr(eq + 1));
    }
    return out;
}

bool parse_bool_value(const std::string& v, const std::string& what) {
    if (v == "true") return true;
    if (v == "false") return false;
    throw Error(what + " must be true or false, not \"" + v + "\"");
}

std::string normalize_target(const std::string& target) {
    if (target.empty()) throw Error("mount target cannot be empty");
    std::filesystem::path p = std::filesystem::path("/") / target;
    p = p.lexically_normal();
    std::string s = p.string();
    if (s.find("/..") != std::string::npos || s == "/")
        throw Error("mount target \"" + target + "\" must name a directory inside the app");
    if (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
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

std::vector<std::string> compose_exec(const AppRequest& req, const store::ImageConfig& cfg) {
    std::vector<std::string> exec;
    if (req.flags.exec) {
        exec.push_back(*req.flags.exec);
        if (req.args) exec.insert(exec.end(), req.args->begin(), req.args->end());
        else if (cfg.entrypoint.empty()) {
            // --exec replaces the command; the image's arguments only make sense with its own.
        }
    } else {
        exec = cfg.entrypoint;
        const auto& args = req.args ? *req.args : cfg.cmd;
        exec.insert(exec.end(), args.begin(), args.end());
    }
    if (exec.empty() || exec.front().empty())
        throw Error("image \"" + req.image +
                    "\" has no entrypoint or command; give one with --exec");
    return exec;
}

}  // namespace

Volume parse_volume_flag(const std::string& spec) {
    auto fields = parse_kv_list(spec);
    Volume v;
    if (fields.empty() || !fields[0].first.empty() || fields[0].second.empty())
        throw Error("--volume must start with a name: NAME,kind=host,source=PATH or NAME,kind=empty");
    v.name = fields[0].second;
    if (!strings::is_valid_acname(v.name))
        throw Error("--volume: \"" + v.name + "\" is not a valid volume name (lower-case letters, digits, dashes)");
    for (size_t i = 1; i < fields.size(); ++i) {
        const auto& [k, val] = fields[i];
        if (k == "kind") v.kind = val;
        else if (k == "source") v.source = val;
        else if (k == "readOnly") v.read_only = parse_bool_value(val, "--volume readOnly");
        else if (k == "recursive") v.recursive = parse_bool_value(val, "--volume recursive");
        else if (k == "mode") v.mode = val;
        else if (k == "uid" && strings::is_decimal(val)) v.uid = static_cast<uint32_t>(std::stoul(val));
        else if (k == "gid" && strings::is_decimal(val)) v.gid = static_cast<uint32_t>(std::stoul(val));
        else throw Error("--volume " + v.name + ": unknown or bad option \"" + k + "=" + val + "\"");
    }
    if (v.kind == "host") {
        if (v.source.empty() || v.source[0] != '/')
            throw Error("--volume " + v.name + ": kind=host needs an absolute source=PATH");
        std::error_code ec;
        if (!std::filesystem::exists(v.source, ec))
            throw Error("--volume " + v.name + ": source " + v.source + " does not exist");
    } else if (v.kind == "empty") {
        if (!v.source.empty()) throw Error("--volume " + v.name + ": kind=empty takes no source");
        if (v.mode.empty() || v.mode.size() > 4 || v.mode.find_first_not_of("01234567") != std::string::npos)
            throw Error("--volume " + v.name + ": mode must be octal, e.g. 0755");
    } else {
        throw Error("--volume " + v.name + ": kind must be host or empty");
    }
    return v;
}

AppMount parse_mount_flag(const std::string& spec) {
    AppMount m;
    for (const auto& [k, v] : parse_kv_list(spec)) {
        if (k == "volume") m.volume = v;
        else if (k == "target") m.path = v;
        else throw Error("--mount expects volume=NAME,target=PATH, got \"" + spec + "\"");
    }
    if (m.volume.empty() || m.path.empty())
        throw Error("--mount expects volume=NAME,target=PATH, got \"" + spec + "\"");
    m.path = normalize_target(m.path);
    return m;
}

std::vector<EnvVar> read_env_file(const std::filesystem::path& path) {
    std::string text = with_context("--set-env-file", [&] { return fs::read_file_limited(path, 1 << 20); });
    std::vector<EnvVar> out;
    int lineno = 0;
    for (const auto& raw : strings::split(text, '\n')) {
        ++lineno;
        std::string line = strings::trim(raw);
        if (line.empty() || line[0] == '#' || line[0] == ';') continue;
        auto eq = line.find('=');
        if (eq == std::string::npos || eq == 0)
            throw Error("--set-env-file " + path.string() + " line " + std::to_string(lineno) +
                        ": expected NAME=VALUE");
        out.push_back({line.substr(0, eq), line.substr(eq + 1)});
    }
    return out;
}

PodManifest build_pod_manifest(const PodFlags& flags, const std::vector<AppRequest>& apps,
                               const std::vector<PodAppImage>& images) {
    PodManifest pm;
    for (const auto& v : flags.volumes) {
        Volume vol = parse_volume_flag(v);
        if (pm.find_volume(vol.name)) throw Error("volume \"" + vol.name + "\" is defined twice");
        pm.volumes.push_back(vol);
    }
    std::vector<EnvVar> file_env;
    if (!flags.set_env_file.empty()) file_env = read_env_file(flags.set_env_file);
    std::vector<EnvVar> set_env;
    for (const auto& e : flags.set_env) set_env.push_back(parse_env_assignment(e, "--set-env"));

    for (size_t i = 0; i < apps.size(); ++i) {
        const AppRequest& req = apps[i];
        const store::ImageInfo& image = images[i].image;
        const store::ImageConfig& cfg = image.config;
        RuntimeApp ra;
        ra.name = req.flags.name ? *req.flags.name : strings::image_name_to_app_name(image.name);
        if (!strings::is_valid_acname(ra.name))
            throw Error("app name \"" + ra.name +
                        "\" is not valid: use lower-case letters, digits and dashes");
        if (pm.find_app(ra.name))
            throw Error("app name \"" + ra.name +
                        "\" is used by more than one app; give each a unique --name");
        ra.image = {image.full_name(), image.id};
        AppSpec& app = ra.app;
        app.exec = compose_exec(req, cfg);

        // Environment, low to high precedence: the image, --set-env-file, --set-env,
        // --environment; then --inherit-env fills only what is still unset.
        for (const auto& e : cfg.env) app.set_env(e.name, e.value);
        for (const auto& e : file_env) app.set_env(e.name, e.value);
        for (const auto& e : set_env) app.set_env(e.name, e.value);
        for (const auto& e : req.flags.environment) {
            EnvVar ev = parse_env_assignment(e, "--environment");
            app.set_env(ev.name, ev.value);
        }
        if (flags.inherit_env) {
            for (char** e = environ; e && *e; ++e) {
                std::string s(*e);
                auto eq = s.find('=');
                if (eq == std::string::npos || eq == 0) continue;
                if (!app.env(s.substr(0, eq))) app.set_env(s.substr(0, eq), s.substr(eq + 1));
            }
        }
        if (!app.env("PATH")) app.set_env("PATH", kDefaultPath);

        // User and group: flags over the image's "user[:group]"; resolved to numbers against
        // the image's own /etc/passwd and /etc/group.
        std::string img_user = cfg.user, img_group;
        if (auto c = img_user.find(':'); c != std::string::npos) {
            img_group = img_user.substr(c + 1);
            img_user = img_user.substr(0, c);
        }
        app.user = req.flags.user.value_or(img_user);
        app.group = req.flags.group.value_or(req.flags.user ? "" : img_group);
        if (req.flags.supplementary_gids) {
            for (const auto& g : strings::split(*req.flags.supplementary_gids, ',')) {
                if (!strings::is_decimal(g) || g.size() > 10)
                    throw Error("--supplementary-gids must be comma-separated numbers");
                app.supplementary_gids.push_back(static_cast<uint32_t>(std::stoul(g)));
            }
        }
        isolation::Identity ids = with_context("app " + ra.name, [&] {
            return isolation::resolve_identity(app, images[i].rootfs);
        });
        app.user = std::to_string(ids.uid);
        app.group = std::to_string(ids.gid);
        app.supplementary_gids.assign(ids.supplementary_gids.begin(), ids.supplementary_gids.end());
        app.working_directory = req.flags.working_dir.value_or(cfg.working_dir);
        if (app.working_directory.empty()) app.working_directory = "/";
        if (app.working_directory[0] != '/')
            throw Error("working directory \"" + app.working_directory + "\" must be absolute");
        add_isolators(app, req.flags);
        for (const auto& m : req.flags.mounts) {
            AppMount mount = parse_mount_flag(m);
            if (!pm.find_volume(mount.volume))
                throw Error("--mount names volume \"" + mount.volume +
                            "\", which no --volume defines");
            ra.mounts.push_back(mount);
        }
        ra.read_only_rootfs = req.flags.readonly_rootfs.value_or(false);
        for (const auto& a : req.flags.annotations) {
            EnvVar kv = parse_env_assignment(a, "--annotation");
            ra.annotations[kv.name] = kv.value;
        }
        pm.apps.push_back(std::move(ra));
    }
    return pm;
}

namespace {

// Sums one quantity isolator over the pod's apps; nullopt when no app sets it.
template <typename Parse>
std::optional<uint64_t> sum_isolator(const PodManifest& pm, const char* name, Parse parse) {
    std::optional<uint64_t> total;
    for (const auto& a : pm.apps) {
        if (const Isolator* i = a.app.find_isolator(name)) {
            if (auto q = parse(i->value.value("limit", ""))) total = total.value_or(0) + *q;
        }
    }
    return total;
}

}  // namespace

std::optional<uint64_t> total_memory_limit(const PodManifest& pm) {
    return sum_isolator(pm, "resource/memory", strings::parse_memory_quantity);
}

std::optional<uint64_t> total_cpu_limit(const PodManifest& pm) {
    return sum_isolator(pm, "resource/cpu", strings::parse_cpu_quantity);
}

}  // namespace rkt
