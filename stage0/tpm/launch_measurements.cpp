#include "stage0/tpm/launch_measurements.h"

#include <fcntl.h>

#include <algorithm>
#include <functional>
#include <optional>

#include "common/digest.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/pod_manifest.h"
#include "common/strings.h"
#include "common/verity_info.h"
#include "stage0/store/erofs_verity.h"
#include "stage0/store/tree_digest.h"

namespace rkt::tpm {

namespace {

using nlohmann::json;
namespace stdfs = std::filesystem;

stdfs::path resolved(const stdfs::path& p) {
    std::error_code ec;
    stdfs::path c = stdfs::canonical(p, ec);
    return ec ? p : c;
}

json file_measurement(const char* kind, const stdfs::path& path, FileDigestCache& files) {
    stdfs::path real = resolved(path);
    return {{"kind", kind}, {"path", real.string()}, {"digest", files.digest(real)}};
}

// The dm-verity parameters the guest mounts the app's disk with (appsinfo/<app>/image.verity):
// the root hash is the disk's measurement, and the salt and geometry are part of it.
json app_disk_measurement(const std::string& app, const stdfs::path& info_dir) {
    stdfs::path file = info_dir / "image.verity";
    std::error_code ec;
    if (!stdfs::exists(file, ec))
        throw Error("app \"" + app + "\" has no dm-verity parameters for its disk (" +
                    file.string() + "): the disk cannot be measured");
    json verity = json::parse(to_json(read_verity_info(file)));
    return {{"kind", "app-disk"},
            {"app", app},
            {"disk", resolved(info_dir / "image.erofs").string()},
            {"verity", verity}};
}

// The rendered tree's digest, computed by the store (appsinfo/<app>/tree.digest).
json app_tree_measurement(const std::string& app, const stdfs::path& info_dir) {
    stdfs::path file = info_dir / "tree.digest";
    auto text = fs::read_file_if_exists(file);
    if (!text)
        throw Error("app \"" + app + "\" has no tree digest (" + file.string() +
                    "): its tree cannot be measured");
    std::string digest = strings::trim(*text);
    if (!is_valid_sha256_digest(digest)) throw Error(file.string() + " is not a sha256 digest");
    json m = {{"kind", "app-tree"}, {"app", app}, {"digest", digest}};
    // The store's tree, which `verify` can measure again; a pod's own copy (--no-overlay) may
    // have had its owners shifted, and its digest is not the store's.
    std::error_code ec;
    if (stdfs::is_symlink(info_dir / "rootfs", ec))
        m["tree"] = resolved(info_dir / "rootfs").string();
    return m;
}

}  // namespace

json isolation_measurement(const Stage1& stage1, const RunOptions& options) {
    std::vector<std::string> insecure = options.insecure_options;
    std::sort(insecure.begin(), insecure.end());
    insecure.erase(std::unique(insecure.begin(), insecure.end()), insecure.end());
    return {{"kind", "isolation"},
            {"stage1", stage1.name},
            {"engine", options.engine.empty() ? stage1.engine : options.engine},
            {"insecure_options", insecure},
            {"private_users", options.private_users},
            {"net", options.net},
            {"interactive", options.interactive}};
}

std::vector<json> launch_measurements(const Stage1& stage1, const stdfs::path& pod_dir,
                                      const RunOptions& options, FileDigestCache& files) {
    std::vector<json> out;
    json s = file_measurement("stage1", stage1.entrypoint("run"), files);
    s["stage1"] = stage1.name;
    out.push_back(std::move(s));
    const bool disks = stage1.image_format == "erofs";
    if (disks) {
        for (const char* kernel : {"vmlinux", "bzImage"}) {
            std::error_code ec;
            if (stdfs::exists(stage1.dir / kernel, ec))
                out.push_back(file_measurement("kernel", stage1.dir / kernel, files));
        }
        out.push_back(file_measurement("guest-init", stage1.dir / "guest-init", files));
    }
    std::string manifest_text = fs::read_file_limited(pod_dir / "pod", 16 << 20);
    PodManifest manifest = PodManifest::parse(manifest_text);
    for (const auto& app : manifest.apps) {
        stdfs::path info = pod_dir / "appsinfo" / app.name;
        out.push_back({{"kind", "image"},
                       {"app", app.name},
                       {"image", app.image.name},
                       {"image_id", app.image.id}});
        out.push_back(disks ? app_disk_measurement(app.name, info)
                            : app_tree_measurement(app.name, info));
    }
    out.push_back({{"kind", "pod-manifest"}, {"digest", sha256_digest(manifest_text)}});
    out.push_back(isolation_measurement(stage1, options));
    return out;
}

Recheck recheck_measurement(const json& content) {
    const std::string kind = content.value("kind", "");
    auto text = [&](const char* key) {
        auto it = content.find(key);
        return it != content.end() && it->is_string() ? it->get<std::string>() : "";
    };
    // What the record names, whether it still exists, and how to measure it now.
    struct Target {
        std::string what;
        bool exists;
        std::function<std::string()> measure;
        std::string logged;
    };
    std::error_code ec;
    std::optional<Target> t;
    if ((kind == "stage1" || kind == "kernel" || kind == "guest-init") && !text("path").empty()) {
        stdfs::path path = text("path");
        t = Target{"the file " + path.string(), stdfs::is_regular_file(path, ec),
                   [path] { return sha256_file_digest(path); }, text("digest")};
    } else if (kind == "app-tree" && !text("tree").empty()) {
        stdfs::path tree = text("tree");
        t = Target{"the tree " + tree.string(), stdfs::is_directory(tree, ec),
                   [tree] { return store::tree_digest(tree); }, text("digest")};
    } else if (kind == "app-disk" && !text("disk").empty() && content.contains("verity") &&
               content["verity"].is_object()) {
        stdfs::path disk = text("disk");
        VerityInfo info = with_context("the record's verity parameters",
                                       [&] { return parse_verity_info(content["verity"].dump()); });
        t = Target{"the disk " + disk.string(), stdfs::is_regular_file(disk, ec),
                   [disk, info] {
                       UniqueFd fd = fs::open_file(disk, O_RDONLY | O_CLOEXEC);
                       return "root hash " + store::verity_root_hash(fd.get(), info);
                   },
                   "root hash " + info.root_hash};
    }
    if (!t || t->logged.empty()) return {Recheck::Outcome::kNotFileBacked, "", ""};
    if (!t->exists) return {Recheck::Outcome::kGone, t->what, ""};
    std::string now = t->measure();
    if (now == t->logged) return {Recheck::Outcome::kSame, t->what, ""};
    return {Recheck::Outcome::kChanged, t->what, now};
}

}  // namespace rkt::tpm
