#include "stage0/stage1.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"

namespace rkt {

namespace {

const char* kKnownFlavors = "kvm, kvm-builtin, kvm-qemu, nspawn, fly";

std::optional<std::string> configured_default(const stdfs::path& config_dir) {
    stdfs::path file = config_dir / "stage1.json";
    auto text = fs::read_file_if_exists(file);
    if (!text) return std::nullopt;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("default") || !j["default"].is_string())
        throw Error(file.string() + ": expected {\"default\": \"<stage1>\"}");
    return j["default"].get<std::string>();
}

Stage1 flavor(const std::string& requested) {
    std::string dir_name = requested;
    std::string engine;
    if (requested == "kvm")
        engine = "auto";
    else if (requested == "kvm-builtin")
        engine = "builtin", dir_name = "kvm";
    else if (requested == "kvm-qemu")
        engine = "qemu", dir_name = "kvm";
    else if (requested != "nspawn" && requested != "fly")
        throw Error("unknown stage1 \"" + requested + "\" (known: " + kKnownFlavors + ")");
    stdfs::path dir = default_stage1_root() / dir_name;
    std::error_code ec;
    if (!stdfs::exists(dir / "stage1.json", ec))
        throw Error("stage1 \"" + requested + "\" is not built in this installation (no " +
                    (dir / "stage1.json").string() + ")");
    Stage1 s = load_stage1_dir(dir);
    s.engine = engine;
    return s;
}

}  // namespace

stdfs::path Stage1::entrypoint(const std::string& which) const {
    stdfs::path p = dir / which;
    if (::access(p.c_str(), X_OK) != 0)
        throw Error("stage1 \"" + name + "\" has no \"" + which + "\" entrypoint (" + p.string() +
                    " is missing or not executable)");
    return p;
}

stdfs::path default_stage1_root() {
    return (fs::executable_dir() / ".." / "lib" / "rkt" / "stage1").lexically_normal();
}

Stage1 load_stage1_dir(const stdfs::path& dir) {
    stdfs::path file = dir / "stage1.json";
    std::string text;
    try {
        text = fs::read_file_limited(file, 1 << 20);
    } catch (const Error&) {
        throw Error("no stage1 at " + dir.string() + " (" + file.string() + " is missing)");
    }
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error(file.string() + " is not a JSON object");
    Stage1 s;
    s.dir = stdfs::absolute(dir).lexically_normal();
    s.name = j.value("name", s.dir.filename().string());
    s.interface_version = j.value("interfaceVersion", 1);
    s.image_format = j.value("imageFormat", "tree");
    if (s.image_format != "tree" && s.image_format != "erofs")
        throw Error(file.string() + ": imageFormat must be \"tree\" or \"erofs\"");
    return s;
}

Stage1 select_stage1(const Stage1Selection& sel, const stdfs::path& local_config,
                     const stdfs::path& system_config) {
    int given = !sel.stage1.empty() + !sel.path.empty() + !sel.name.empty() + !sel.from_dir.empty();
    if (given > 1)
        throw Error(
            "conflicting stage1 flags: give only one of --stage1, --stage1-path, --stage1-name, "
            "--stage1-from-dir");
    if (!sel.path.empty()) return load_stage1_dir(sel.path);
    if (!sel.name.empty()) return flavor(sel.name);
    if (!sel.from_dir.empty()) {
        if (sel.from_dir.find('/') != std::string::npos)
            throw Error("--stage1-from-dir takes a name from " + default_stage1_root().string() +
                        ", not a path (use --stage1-path for a path)");
        return flavor(sel.from_dir);
    }
    if (!sel.stage1.empty()) return flavor(sel.stage1);
    if (auto d = configured_default(local_config)) return flavor(*d);
    if (auto d = configured_default(system_config)) return flavor(*d);
    return flavor("kvm");
}

Stage1 load_pod_stage1(const stdfs::path& pod_dir) {
    std::error_code ec;
    stdfs::path target = stdfs::read_symlink(pod_dir / "stage1", ec);
    if (ec) throw Error("pod has no stage1 recorded (" + (pod_dir / "stage1").string() + ")");
    Stage1 s = load_stage1_dir(target);
    if (auto engine = fs::read_file_if_exists(pod_dir / "stage1-engine"))
        s.engine = strings::trim(*engine);
    return s;
}

}  // namespace rkt
