// Importing OCI image layouts, OCI archives and `docker save` archives.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <limits>

#include "common/digest.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/log.h"
#include "common/strings.h"
#include "stage0/store/layer_reader.h"
#include "stage0/store/out_of_space.h"
#include "stage0/store/safe_fs.h"
#include "stage0/store/store_impl.h"
#include "stage0/store/tree_writer.h"

namespace rkt::store {
namespace {

// Indexes may nest; real ones nest once (a tag pointing at a multi-platform index).
constexpr int kMaxIndexDepth = 4;

std::string dir_display_name(const stdfs::path& dir) {
    stdfs::path p = dir.lexically_normal();
    if (p.filename().empty()) p = p.parent_path();
    std::string name = p.filename().string();
    if (name.empty() || name == "." || name == "..") {
        std::error_code ec;
        name = stdfs::absolute(dir, ec).lexically_normal().filename().string();
    }
    return name.empty() ? "image" : name;
}

std::string archive_display_name(const stdfs::path& tar) {
    std::string name = tar.filename().string();
    for (std::string_view suffix : {".tar.gz", ".tar.zst", ".tgz", ".tar", ".oci", ".docker"}) {
        if (name.size() > suffix.size() && name.ends_with(suffix)) {
            name.resize(name.size() - suffix.size());
            break;
        }
    }
    return name.empty() ? "image" : name;
}

// A ref annotation is either a bare tag ("v1") or a full reference ("example.com/x:v1").
bool is_full_reference(const std::string& s) {
    return s.find('/') != std::string::npos || s.find(':') != std::string::npos;
}

bool ref_matches(const std::string& annotation, const std::string& ref) {
    if (annotation == ref) return true;
    if (is_full_reference(annotation) && !is_full_reference(ref))
        return oci::split_name_tag(annotation).tag == ref;
    return false;
}

std::string list_refs(const std::vector<oci::Descriptor>& entries) {
    std::vector<std::string> refs;
    for (const auto& d : entries)
        if (const auto* r = d.annotation(oci::media::kRefNameAnnotation)) refs.push_back(*r);
    return refs.empty() ? "none" : strings::join(refs, ", ");
}

NameBinding binding_for(const std::string& name, const std::string& ref,
                        const std::string* annotation, const std::string& default_name) {
    if (!name.empty()) {
        auto nt = oci::split_name_tag(name);
        if (nt.tag.empty()) nt.tag = (!ref.empty() && !is_full_reference(ref)) ? ref : "latest";
        return {nt.name, nt.tag};
    }
    if (annotation && !annotation->empty()) {
        if (is_full_reference(*annotation)) {
            auto nt = oci::split_name_tag(*annotation);
            return {nt.name, nt.tag.empty() ? "latest" : nt.tag};
        }
        return {default_name, *annotation};
    }
    return {default_name, "latest"};
}

// Picks the manifest an index names for this machine. At the top level `ref` selects by tag;
// nested indexes are selected by platform, first match wins (as the image spec says).
struct Selection {
    oci::Descriptor manifest;
    std::optional<oci::Descriptor> top;  // the top-level entry, for its ref annotation
};

Selection select_manifest(const oci::Index& index, const BlobSource& source, const std::string& ref,
                          const std::string& display, const ImportLimits& limits, int depth) {
    std::vector<oci::Descriptor> candidates;
    if (depth == 0 && !ref.empty()) {
        for (const auto& d : index.manifests) {
            const auto* a = d.annotation(oci::media::kRefNameAnnotation);
            if (a && ref_matches(*a, ref)) candidates.push_back(d);
        }
        if (candidates.empty())
            throw Error("no image tagged \"" + ref + "\" in " + display +
                        " (tags: " + list_refs(index.manifests) + ")");
    } else {
        candidates = index.manifests;
    }

    std::vector<oci::Descriptor> usable;
    std::vector<std::string> other_platforms;
    for (const auto& d : candidates) {
        bool known = d.media_type.empty() || oci::is_manifest_media_type(d.media_type) ||
                     oci::is_index_media_type(d.media_type);
        if (!known) continue;  // e.g. signatures or attestations: not an image for us
        if (d.platform && d.platform->os == "unknown") continue;  // buildkit attestations
        if (!oci::platform_matches_host(d)) {
            other_platforms.push_back(d.platform->to_string());
            continue;
        }
        usable.push_back(d);
    }
    if (usable.empty()) {
        if (!other_platforms.empty()) {
            std::sort(other_platforms.begin(), other_platforms.end());
            other_platforms.erase(std::unique(other_platforms.begin(), other_platforms.end()),
                                  other_platforms.end());
            throw Error("image is for " + strings::join(other_platforms, ", ") +
                        "; this machine runs " + std::string(oci::kHostArchitecture) + "/" +
                        std::string(oci::kHostOs));
        }
        throw Error(display + " holds no image manifest");
    }
    if (depth == 0 && ref.empty() && usable.size() > 1) {
        // Several tagged images and no tag given: refuse to guess (unless they are all one).
        std::set<std::string> digests;
        for (const auto& d : usable) digests.insert(d.digest);
        bool tagged = std::any_of(usable.begin(), usable.end(), [](const oci::Descriptor& d) {
            return d.annotation(oci::media::kRefNameAnnotation) != nullptr;
        });
        if (digests.size() > 1 && tagged)
            throw Error(display + " holds " + std::to_string(digests.size()) +
                        " images; select one by tag (tags: " + list_refs(usable) + ")");
    }
    const oci::Descriptor& chosen = usable.front();
    Selection sel;
    if (depth == 0) sel.top = chosen;
    bool is_index = oci::is_index_media_type(chosen.media_type);
    if (!is_index && !chosen.media_type.empty()) {
        sel.manifest = chosen;
        return sel;
    }
    // An index, or a descriptor without a media type: look at the document itself.
    std::string bytes = source.read_verified(chosen, limits.max_manifest_bytes,
                                             is_index ? "image index" : "manifest");
    nlohmann::json probe = oci::parse_json(bytes, "image index", limits.max_manifest_bytes);
    bool looks_like_index = probe.is_object() && probe.contains("manifests");
    if (!is_index && !looks_like_index) {
        sel.manifest = chosen;
        return sel;
    }
    if (depth + 1 >= kMaxIndexDepth) throw Error(display + ": image indexes nest too deeply");
    oci::Index nested = oci::parse_index(bytes, limits.max_manifest_bytes);
    Selection inner = select_manifest(nested, source, "", display, limits, depth + 1);
    sel.manifest = inner.manifest;
    return sel;
}

// gzip and zstd magic numbers: docker save layers must be plain tars.
bool looks_compressed(int fd) {
    unsigned char magic[4] = {};
    ssize_t n = ::pread(fd, magic, sizeof magic, 0);
    if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) return true;
    return n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd;
}

}  // namespace

ImageInfo StoreImpl::import_oci_layout(const stdfs::path& dir, const std::string& ref,
                                       const std::string& name) {
    return explain_out_of_space("image " + dir.string(), layout_.root, [&] {
        return with_context("cannot import " + dir.string(), [&] {
            UniqueFd dir_fd = fs::open_dir(dir);
            return import_layout_fd(dir_fd.get(), dir.string(), ref, name, dir_display_name(dir),
                                    false);
        });
    });
}

ImageRecord StoreImpl::rendered_record(const std::string& id, const std::string& manifest_digest,
                                       const oci::Manifest& manifest,
                                       const oci::ParsedConfig& config, uint64_t blobs_size,
                                       uint64_t tree_size) {
    ImageRecord r;
    r.id = id;
    r.manifest_digest = manifest_digest;
    r.manifest_media_type = manifest.media_type;
    r.config_digest = manifest.config.digest;
    r.config_json = config.config.to_json().dump();
    r.blobs_size = blobs_size;
    r.tree_size = tree_size;
    r.rendered = true;
    r.import_time_ms = r.last_used_ms = now_ms();
    return r;
}

ImageInfo StoreImpl::import_archive(const stdfs::path& tar, const std::string& ref,
                                    const std::string& name) {
    return explain_out_of_space("image " + tar.string(), layout_.root,
                                [&] { return import_archive_file(tar, ref, name); });
}

ImageInfo StoreImpl::import_archive_file(const stdfs::path& tar, const std::string& ref,
                                         const std::string& name) {
    return with_context("cannot import " + tar.string(), [&] {
        FileLock lease = FileLock::acquire(layout_.blobs_lock_path(), FileLock::Mode::kShared);
        UniqueFd in = fs::open_file(tar, O_RDONLY);
        TmpEntry work = TmpEntry::make_dir(layout_, "archive");
        UniqueFd work_fd = fs::open_dir(work.path());
        {
            LayerReader reader(in.get(), tar.filename().string(), std::nullopt,
                               std::numeric_limits<uint64_t>::max());
            TreeWriterOptions opts;
            opts.limits = limits_;
            opts.image_layer = false;
            TreeWriter writer(work_fd.get(), opts);
            writer.apply(reader);
        }
        auto is_file = [&](const char* rel) {
            int fd = safe_fs::open_beneath_raw(work_fd.get(), rel, O_PATH);
            if (fd < 0) return false;
            ::close(fd);
            return true;
        };
        std::string display = tar.string();
        // docker save (Docker >= 25 also writes an OCI layout next to it): manifest.json wins.
        if (is_file("manifest.json"))
            return import_docker_save(work_fd.get(), display, ref, name, archive_display_name(tar));
        if (is_file("index.json"))
            return import_layout_fd(work_fd.get(), display, ref, name, archive_display_name(tar),
                                    true);
        throw Error(
            "neither an OCI archive (index.json) nor a docker save archive "
            "(manifest.json)");
    });
}

ImageInfo StoreImpl::import_layout_fd(int dir_fd, const std::string& display,
                                      const std::string& ref, const std::string& name,
                                      const std::string& default_name, bool owned) {
    // Until the image is registered, nothing references the blobs this import relies on.
    FileLock lease = FileLock::acquire(layout_.blobs_lock_path(), FileLock::Mode::kShared);
    int probe = safe_fs::open_beneath_raw(dir_fd, "oci-layout", O_RDONLY);
    if (probe < 0) throw Error("not an OCI image layout (no oci-layout file)");
    ::close(probe);
    std::string layout_text = with_context(
        "oci-layout", [&] { return safe_fs::read_beneath(dir_fd, "oci-layout", 4096); });
    nlohmann::json layout_json = oci::parse_json(layout_text, "oci-layout", 4096);
    if (!layout_json.is_object() || !layout_json.contains("imageLayoutVersion"))
        throw Error("oci-layout has no imageLayoutVersion");

    std::string index_text = with_context("index.json", [&] {
        return safe_fs::read_beneath(dir_fd, "index.json", limits_.max_manifest_bytes);
    });
    oci::Index index = with_context(
        "index.json", [&] { return oci::parse_index(index_text, limits_.max_manifest_bytes); });
    LayoutBlobSource source(dir_fd, owned);
    Selection sel = select_manifest(index, source, ref, display, limits_, 0);

    ImportPlan plan;
    plan.manifest_bytes =
        source.read_verified(sel.manifest, limits_.max_manifest_bytes, "manifest");
    plan.manifest_media_type = sel.manifest.media_type;
    plan.source = &source;
    const std::string* annotation =
        sel.top ? sel.top->annotation(oci::media::kRefNameAnnotation) : nullptr;
    plan.name = binding_for(name, ref, annotation, default_name);
    return import_manifest(plan);
}

ImageInfo StoreImpl::import_docker_save(int dir_fd, const std::string& display,
                                        const std::string& ref, const std::string& name,
                                        const std::string& default_name) {
    std::string text = safe_fs::read_beneath(dir_fd, "manifest.json", limits_.max_manifest_bytes);
    auto entries = oci::parse_docker_save_manifest(text, limits_.max_manifest_bytes);
    const oci::DockerSaveEntry* chosen = nullptr;
    std::string chosen_tag;
    std::vector<std::string> all_tags;
    for (const auto& e : entries)
        for (const auto& t : e.repo_tags) all_tags.push_back(t);
    if (!ref.empty()) {
        for (const auto& e : entries)
            for (const auto& t : e.repo_tags)
                if (!chosen && ref_matches(t, ref)) {
                    chosen = &e;
                    chosen_tag = t;
                }
        if (!chosen)
            throw Error("no image tagged \"" + ref + "\" in " + display + " (tags: " +
                        (all_tags.empty() ? "none" : strings::join(all_tags, ", ")) + ")");
    } else {
        if (entries.empty()) throw Error("manifest.json lists no images");
        if (entries.size() > 1)
            throw Error(display + " holds " + std::to_string(entries.size()) +
                        " images; select one by tag (tags: " + strings::join(all_tags, ", ") + ")");
        chosen = &entries.front();
        if (!chosen->repo_tags.empty()) chosen_tag = chosen->repo_tags.front();
    }

    std::string config_path =
        safe_fs::normalize_entry_path(chosen->config_path, limits_.max_path_length);
    std::string config_bytes = with_context("config " + config_path, [&] {
        return safe_fs::read_beneath(dir_fd, config_path, limits_.max_manifest_bytes);
    });
    oci::Descriptor config{std::string(oci::media::kOciConfig),
                           sha256_digest(config_bytes),
                           config_bytes.size(),
                           {},
                           {},
                           std::nullopt};
    // Both layouts name the config by its digest ("<hex>.json" or "blobs/sha256/<hex>").
    std::string stem = stdfs::path(config_path).stem().string();
    if (stem.size() == 64 && "sha256:" + stem != config.digest)
        throw Error("config " + config_path + ": digest mismatch (content hashes to " +
                    config.digest + ")");
    oci::ParsedConfig pc = oci::parse_config(config_bytes, limits_.max_manifest_bytes);
    if (pc.diff_ids.size() != chosen->layer_paths.size())
        throw Error("the image config lists " + std::to_string(pc.diff_ids.size()) +
                    " layers but manifest.json has " + std::to_string(chosen->layer_paths.size()));

    // docker save layers are the uncompressed tars themselves: digest = DiffID.
    std::map<std::string, std::string> paths{{config.digest, config_path}};
    std::vector<oci::Descriptor> layers;
    for (size_t i = 0; i < chosen->layer_paths.size(); ++i) {
        std::string rel =
            safe_fs::normalize_entry_path(chosen->layer_paths[i], limits_.max_path_length);
        UniqueFd fd = safe_fs::open_beneath(dir_fd, rel, O_RDONLY);
        struct stat st {};
        if (::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode))
            throw Error("layer " + rel + " is not a regular file");
        if (looks_compressed(fd.get()))
            throw Error("layer " + rel + " is compressed; docker save archives hold plain tars");
        layers.push_back({std::string(oci::media::kOciLayer),
                          pc.diff_ids[i],
                          static_cast<uint64_t>(st.st_size),
                          {},
                          {},
                          std::nullopt});
        paths.emplace(pc.diff_ids[i], rel);
    }
    PathBlobSource source(dir_fd, std::move(paths));
    ImportPlan plan;
    plan.manifest_bytes = oci::synthesize_manifest(config, layers);
    plan.manifest_media_type = std::string(oci::media::kOciManifest);
    plan.source = &source;
    const std::string* annotation = chosen_tag.empty() ? nullptr : &chosen_tag;
    plan.name = binding_for(name, ref, annotation, default_name);
    return import_manifest(plan);
}

ImageInfo StoreImpl::import_manifest(const ImportPlan& plan) {
    std::string manifest_digest = sha256_digest(plan.manifest_bytes);
    std::string id = id_from_digest(manifest_digest);
    FileLock image_lock = lock_image(id);
    if (index_.find(id)) {
        // Already imported: the digests match, so there is nothing to hash or unpack again.
        // One short write (the start path of every pod of a local image comes here).
        index_.mark_used(id, plan.name, now_ms());
        used_.insert(id);
        return info_for(require(id));
    }

    oci::Manifest m = oci::parse_manifest(plan.manifest_bytes, plan.manifest_media_type,
                                          limits_.max_manifest_bytes);
    std::string config_bytes =
        plan.source->read_verified(m.config, limits_.max_manifest_bytes, "config");
    oci::ParsedConfig pc = oci::parse_config(config_bytes, limits_.max_manifest_bytes);
    if (pc.diff_ids.size() != m.layers.size())
        throw Error("the image config lists " + std::to_string(pc.diff_ids.size()) +
                    " layers but the manifest has " + std::to_string(m.layers.size()));

    TmpEntry work = TmpEntry::make_dir(layout_, "import");
    fs::make_dirs(work.path() / "blobs");
    std::vector<std::string> staged;
    auto stage_bytes = [&](const std::string& digest, const std::string& bytes) {
        if (blob_in_store(digest) ||
            std::find(staged.begin(), staged.end(), digest) != staged.end())
            return;
        stdfs::path p = work.path() / "blobs" / digest.substr(7);
        UniqueFd fd = fs::open_file(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
        io::write_all(fd.get(), bytes, p.string());
        staged.push_back(digest);
    };
    stage_bytes(manifest_digest, plan.manifest_bytes);
    stage_bytes(m.config.digest, config_bytes);
    uint64_t tree_size = render_into(id, m, pc, plan.source, work.path(), &staged);

    std::vector<BlobRef> refs{{manifest_digest, plan.manifest_bytes.size(), "manifest", 0},
                              {m.config.digest, m.config.size, "config", 0}};
    std::set<std::string> counted{manifest_digest, m.config.digest};
    uint64_t blobs_size = plan.manifest_bytes.size() + m.config.size;
    for (size_t i = 0; i < m.layers.size(); ++i) {
        refs.push_back({m.layers[i].digest, m.layers[i].size, "layer", static_cast<int>(i)});
        if (counted.insert(m.layers[i].digest).second) blobs_size += m.layers[i].size;
    }
    publish_blobs(work.path(), staged);
    publish_tree(id, work.path());

    index_.insert(rendered_record(id, manifest_digest, m, pc, blobs_size, tree_size), refs,
                  plan.name);
    // The fetch lease is for has_blob() callers; an import holds its own.
    return info_for(require(id));
}

}  // namespace rkt::store
