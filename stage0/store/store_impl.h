// The ImageStore implementation, split by concern across image_store.cpp (open, lookups, names),
// image_import.cpp, image_render.cpp, image_maintenance.cpp (remove, gc, verify),
// image_export.cpp and blob_writer.cpp.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/file_lock.h"
#include "stage0/store/blob_source.h"
#include "stage0/store/image_index.h"
#include "stage0/store/image_store.h"
#include "stage0/store/oci_image.h"
#include "stage0/store/store_layout.h"

namespace rkt::store {

// What the blob writers of one store object share (they may run on several threads).
struct BlobWrites {
    std::atomic<bool> out_of_space{false};  // a write found the file system full
    std::mutex mutex;
    std::set<std::string> committed;  // digests this object's writers published
};

class StoreImpl : public ImageStore {
public:
    StoreImpl(const stdfs::path& cas_root, const ImportLimits& limits);
    // After a fetch that ran out of space, the blobs it published that no image references go
    // too: the store is left as it was.
    ~StoreImpl() override;

    ImageInfo import_oci_layout(const stdfs::path& dir, const std::string& ref,
                                const std::string& name) override;
    ImageInfo import_archive(const stdfs::path& tar, const std::string& ref,
                             const std::string& name) override;
    bool has_blob(const std::string& digest) const override;
    std::unique_ptr<BlobWriter> begin_blob(const std::string& digest,
                                           std::optional<uint64_t> size) override;
    ImageInfo register_image(const std::string& manifest_digest, const std::string& name,
                             const std::string& tag) override;
    std::optional<ImageInfo> resolve(const std::string& ref) const override;
    std::vector<ImageInfo> list() const override;
    std::string manifest_json(const std::string& id) const override;
    void touch(const std::string& id) override;
    void remove(const std::string& id) override;
    std::vector<std::string> gc(std::chrono::milliseconds grace,
                                const std::set<std::string>& in_use) override;
    std::vector<std::string> verify() const override;
    stdfs::path render_tree(const std::string& id) override;
    stdfs::path erofs_image(const std::string& id) override;
    VerityInfo erofs_verity(const std::string& id) override;
    std::string tree_digest(const std::string& id) override;
    void export_oci_archive(const std::string& id, const stdfs::path& out) override;
    stdfs::path root() const override { return layout_.root; }

private:
    // What an import has established before it commits to an image id.
    struct ImportPlan {
        std::string manifest_bytes;
        std::string manifest_media_type;  // of the descriptor that named it
        const BlobSource* source = nullptr;
        std::optional<NameBinding> name;
    };

    ImageInfo register_stored(const std::string& manifest_digest, const std::string& name,
                              const std::string& tag);
    ImageInfo import_archive_file(const stdfs::path& tar, const std::string& ref,
                                  const std::string& name);
    ImageInfo import_layout_fd(int dir_fd, const std::string& display, const std::string& ref,
                               const std::string& name, const std::string& default_name,
                               bool owned);
    ImageInfo import_docker_save(int dir_fd, const std::string& display, const std::string& ref,
                                 const std::string& name, const std::string& default_name);
    // Verifies, renders and registers the image the plan names; the common tail of every import.
    ImageInfo import_manifest(const ImportPlan& plan);
    // Renders the layers into <work>/tree and stages the blobs the store lacks into
    // <work>/blobs. `source` may be null (render from the store only).
    uint64_t render_into(const std::string& id, const oci::Manifest& manifest,
                         const oci::ParsedConfig& config, const BlobSource* source,
                         const stdfs::path& work, std::vector<std::string>* staged);
    // Publishes staged blobs, then the rendered tree, of an image whose lock we hold.
    void publish_blobs(const stdfs::path& work, const std::vector<std::string>& staged);
    void publish_tree(const std::string& id, const stdfs::path& work);
    stdfs::path render_locked(const std::string& id);
    // The image's dm-verity parameters when erofs/<id>.img and erofs/<id>.verity are both there
    // and agree (stage0/store/erofs_verity.h, verity_tree_matches); else nullopt.
    std::optional<VerityInfo> complete_erofs(const std::string& id) const;
    void build_erofs_locked(const std::string& id);
    // A problem with the erofs image and its hash tree, for verify(); nullopt when none.
    std::optional<std::string> check_erofs(const std::string& id) const;

    ImageInfo info_for(const ImageRecord& record) const;
    // The index entry of an image just rendered and published (an import, a fetch).
    static ImageRecord rendered_record(const std::string& id, const std::string& manifest_digest,
                                       const oci::Manifest& manifest,
                                       const oci::ParsedConfig& config, uint64_t blobs_size,
                                       uint64_t tree_size);
    ImageRecord require(const std::string& id) const;
    bool blob_in_store(const std::string& digest) const;
    std::string read_store_blob(const std::string& digest, uint64_t limit) const;
    FileLock lock_image(const std::string& id) const;
    void remove_locked(const std::string& id);
    // Deletes the given blobs when nothing references them, if no import holds the blob lease.
    void collect_blobs(const std::optional<std::set<std::string>>& candidates);
    void remove_orphans();
    void acquire_fetch_lease() const;

    StoreLayout layout_;
    ImportLimits limits_;
    bool preserve_owner_;
    // Held while the index is opened: SQLite answers "database is locked" at once, without
    // waiting, when several processes switch a new database to WAL together.
    FileLock open_lock_;
    mutable ImageIndex index_;
    mutable FileLock fetch_lease_;
    std::shared_ptr<BlobWrites> blob_writes_ = std::make_shared<BlobWrites>();
    std::set<std::string> used_;  // images whose last_used this object set
};

std::string id_from_digest(const std::string& digest);  // sha256:<hex> -> sha256-<hex>
std::string digest_from_id(const std::string& id);      // sha256-<hex> -> sha256:<hex>

}  // namespace rkt::store
