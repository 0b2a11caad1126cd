// Opening the store, lookups, names, and registering images whose blobs a fetcher wrote.
#include <sys/stat.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "stage0/store/out_of_space.h"
#include "stage0/store/store_impl.h"

namespace rkt::store {
namespace {

// Partial downloads are kept this long for a later fetch to resume.
constexpr std::chrono::hours kKeepPartialBlobs{24};
constexpr size_t kMinIdPrefix = 6;

bool is_lower_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return !s.empty();
}

Clock::time_point from_ms(int64_t ms) {
    return Clock::time_point(
        std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(ms)));
}

}  // namespace

std::string id_from_digest(const std::string& digest) {
    return "sha256-" + digest.substr(7);
}
std::string digest_from_id(const std::string& id) {
    return "sha256:" + id.substr(7);
}

std::unique_ptr<ImageStore> ImageStore::open(const stdfs::path& data_dir,
                                             const ImportLimits& limits) {
    return std::make_unique<StoreImpl>(data_dir / "cas", limits);
}

StoreImpl::StoreImpl(const stdfs::path& cas_root, const ImportLimits& limits)
    : layout_([&] {
          StoreLayout l(cas_root);
          l.create_dirs();
          return l;
      }()),
      limits_(limits),
      preserve_owner_(::geteuid() == 0),
      open_lock_(FileLock::acquire(layout_.open_lock_path(), FileLock::Mode::kExclusive)),
      index_(layout_.db_path) {
    open_lock_ = FileLock();
    clean_tmp(layout_, kKeepPartialBlobs);
}

StoreImpl::~StoreImpl() {
    if (!blob_writes_->out_of_space.load()) return;
    try {
        fetch_lease_ = FileLock();  // ours would stop our own blob gc
        std::set<std::string> committed;
        {
            std::lock_guard lock(blob_writes_->mutex);
            committed = blob_writes_->committed;
        }
        collect_blobs(committed);
    } catch (const std::exception& e) {
        log::debug(std::string("cannot remove the blobs of a fetch that ran out of space: ") +
                   e.what());
    }
}

ImageRecord StoreImpl::require(const std::string& id) const {
    auto r = index_.find(id);
    if (!r) throw Error("no image " + id + " in the store");
    return *r;
}

ImageInfo StoreImpl::info_for(const ImageRecord& r) const {
    ImageInfo info;
    info.id = r.id;
    info.manifest_digest = r.manifest_digest;
    info.size = r.blobs_size + r.tree_size;
    info.import_time = from_ms(r.import_time_ms);
    info.last_used = from_ms(r.last_used_ms);
    info.config = ImageConfig::from_json(nlohmann::json::parse(r.config_json));
    auto names = index_.names_of(r.id);
    for (const auto& n : names) info.names.push_back(n.tag.empty() ? n.name : n.name + ":" + n.tag);
    if (!names.empty()) {
        info.name = names.front().name;
        info.tag = names.front().tag;
    }
    return info;
}

std::optional<ImageInfo> StoreImpl::resolve(const std::string& ref) const {
    std::string s = ref;
    bool explicit_id = false;
    if (s.starts_with("sha256-") || s.starts_with("sha256:")) {
        s = s.substr(7);
        explicit_id = true;
    }
    if (explicit_id || (is_lower_hex(s) && s.size() >= kMinIdPrefix && s.size() <= 64)) {
        if (!is_lower_hex(s) || s.size() > 64) throw Error("malformed image id \"" + ref + "\"");
        if (s.size() < kMinIdPrefix)
            throw Error("image id prefix \"" + ref + "\" is too short; give at least " +
                        std::to_string(kMinIdPrefix) + " hex digits");
        auto ids = index_.ids_with_prefix("sha256-" + s);
        if (ids.size() > 1)
            throw Error("ambiguous image id, " + std::to_string(ids.size()) + " matches");
        if (ids.size() == 1) return info_for(require(ids.front()));
        if (explicit_id) return std::nullopt;
        // A name that happens to look like hex: fall through.
    }
    if (auto at = ref.find('@'); at != std::string::npos) {
        std::string digest = ref.substr(at + 1);
        if (!is_valid_sha256_digest(digest)) throw Error("malformed digest in \"" + ref + "\"");
        auto record = index_.find(id_from_digest(digest));
        if (!record) return std::nullopt;
        return info_for(*record);
    }
    auto nt = oci::split_name_tag(ref);
    if (nt.tag.empty()) nt.tag = "latest";
    auto id = index_.id_for_name(nt.name, nt.tag);
    if (!id) return std::nullopt;
    auto record = index_.find(*id);
    if (!record) return std::nullopt;
    return info_for(*record);
}

std::vector<ImageInfo> StoreImpl::list() const {
    std::vector<ImageInfo> out;
    for (const auto& r : index_.all()) out.push_back(info_for(r));
    return out;
}

std::string StoreImpl::read_store_blob(const std::string& digest, uint64_t limit) const {
    std::string data = with_context(
        "blob " + digest, [&] { return fs::read_file_limited(layout_.blob_path(digest), limit); });
    if (sha256_digest(data) != digest)
        throw Error("blob " + digest + " in the store is corrupt; run `rkt image verify`");
    return data;
}

std::string StoreImpl::manifest_json(const std::string& id) const {
    return read_store_blob(require(id).manifest_digest, limits_.max_manifest_bytes);
}

void StoreImpl::touch(const std::string& id) {
    if (used_.count(id)) return;  // this process marked it used already (an import)
    require(id);
    explain_out_of_space("the image index", layout_.root,
                         [&] { index_.set_last_used(id, now_ms()); });
    used_.insert(id);
}

void StoreImpl::acquire_fetch_lease() const {
    if (!fetch_lease_.valid())
        fetch_lease_ = FileLock::acquire(layout_.blobs_lock_path(), FileLock::Mode::kShared);
}

bool StoreImpl::has_blob(const std::string& digest) const {
    if (!is_valid_sha256_digest(digest)) throw Error("malformed digest \"" + digest + "\"");
    acquire_fetch_lease();
    struct stat st {};
    return ::stat(layout_.blob_path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

ImageInfo StoreImpl::register_image(const std::string& manifest_digest, const std::string& name,
                                    const std::string& tag) {
    if (!is_valid_sha256_digest(manifest_digest))
        throw Error("malformed manifest digest \"" + manifest_digest + "\"");
    return explain_out_of_space("image " + id_from_digest(manifest_digest).substr(0, 19),
                                layout_.root,
                                [&] { return register_stored(manifest_digest, name, tag); });
}

ImageInfo StoreImpl::register_stored(const std::string& manifest_digest, const std::string& name,
                                     const std::string& tag) {
    acquire_fetch_lease();
    std::string id = id_from_digest(manifest_digest);
    std::optional<NameBinding> binding;
    if (!name.empty()) binding = NameBinding{name, tag.empty() ? "latest" : tag};
    FileLock image_lock = lock_image(id);
    if (!index_.find(id)) {
        std::string manifest_bytes = read_store_blob(manifest_digest, limits_.max_manifest_bytes);
        oci::Manifest m = oci::parse_manifest(manifest_bytes, "", limits_.max_manifest_bytes);
        std::string config_bytes = read_store_blob(m.config.digest, limits_.max_manifest_bytes);
        verify_bytes(config_bytes, m.config, "config");
        oci::ParsedConfig pc = oci::parse_config(config_bytes, limits_.max_manifest_bytes);
        if (pc.diff_ids.size() != m.layers.size())
            throw Error("the image config lists " + std::to_string(pc.diff_ids.size()) +
                        " layers but the manifest has " + std::to_string(m.layers.size()));
        std::vector<BlobRef> refs{{manifest_digest, manifest_bytes.size(), "manifest", 0},
                                  {m.config.digest, m.config.size, "config", 0}};
        std::set<std::string> counted{manifest_digest, m.config.digest};
        uint64_t blobs_size = manifest_bytes.size() + m.config.size;
        for (size_t i = 0; i < m.layers.size(); ++i) {
            const auto& l = m.layers[i];
            struct stat st {};
            if (::stat(layout_.blob_path(l.digest).c_str(), &st) < 0)
                throw Error("layer " + l.digest + " is not in the store; fetch it first");
            if (static_cast<uint64_t>(st.st_size) != l.size)
                throw Error("layer " + l.digest + " in the store has " +
                            std::to_string(st.st_size) + " bytes, its descriptor says " +
                            std::to_string(l.size));
            refs.push_back({l.digest, l.size, "layer", static_cast<int>(i)});
            if (counted.insert(l.digest).second) blobs_size += l.size;
        }
        // Rendering checks every layer's digest and DiffID (and unpacks it safely) before the
        // image becomes visible, as an import does; `rkt run` then finds the tree ready.
        TmpEntry work = TmpEntry::make_dir(layout_, "render");
        uint64_t tree_size = with_context("cannot register image " + id, [&] {
            return render_into(id, m, pc, nullptr, work.path(), nullptr);
        });
        publish_tree(id, work.path());
        index_.insert(rendered_record(id, manifest_digest, m, pc, blobs_size, tree_size), refs,
                      binding);
    } else if (binding) {
        index_.bind_name(id, *binding);
    }
    // Everything this fetch wrote is referenced now; let blob gc run again.
    fetch_lease_ = FileLock();
    return info_for(require(id));
}

}  // namespace rkt::store
