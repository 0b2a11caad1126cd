// The SQLite index of the image store (db.sqlite): images, their names and the blobs each one
// references. Every write is one short IMMEDIATE transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "stage0/store/sqlite_db.h"

namespace rkt::store {

struct ImageRecord {
    std::string id;
    std::string manifest_digest;
    std::string manifest_media_type;
    std::string config_digest;
    std::string config_json;  // the normalised ImageConfig
    uint64_t blobs_size = 0;
    uint64_t tree_size = 0;
    bool rendered = false;
    bool erofs = false;
    int64_t import_time_ms = 0;
    int64_t last_used_ms = 0;
};

struct BlobRef {
    std::string digest;
    uint64_t size = 0;
    std::string role;  // "manifest", "config", "layer"
    int position = 0;
};

struct NameBinding {
    std::string name;
    std::string tag;
};

// Milliseconds since the epoch, as the index stores times.
int64_t now_ms();

class ImageIndex {
public:
    static constexpr int kSchemaVersion = 1;
    using Clock = std::function<int64_t()>;

    // `clock` gives the moment a name is bound (names_of orders by it); tests inject their own.
    explicit ImageIndex(const std::filesystem::path& db_path, Clock clock = now_ms);

    std::optional<ImageRecord> find(const std::string& id);
    std::vector<ImageRecord> all();
    std::vector<std::string> ids_with_prefix(const std::string& id_prefix);
    std::optional<std::string> id_for_name(const std::string& name, const std::string& tag);
    // Most recently bound first.
    std::vector<NameBinding> names_of(const std::string& id);
    std::vector<BlobRef> blobs_of(const std::string& id);
    std::set<std::string> referenced_blobs();
    // How many images other than `id` reference `digest`.
    int64_t other_references(const std::string& digest, const std::string& id);

    // Inserts the image with its blobs (unless it exists) and binds the name, atomically.
    void insert(const ImageRecord& image, const std::vector<BlobRef>& blobs,
                const std::optional<NameBinding>& name);
    void bind_name(const std::string& id, const NameBinding& name);
    void set_last_used(const std::string& id, int64_t ms);
    // The image is used now: last_used = `ms` and, when given, `name` bound to it (unless it is
    // already its most recent name), in one transaction.
    void mark_used(const std::string& id, const std::optional<NameBinding>& name, int64_t ms);
    void set_tree(const std::string& id, bool rendered, uint64_t size);
    void set_erofs(const std::string& id, bool built);
    bool erase(const std::string& id);

private:
    void init_schema();
    // Binds `name` to image `id` now (by the clock), replacing what it named before; in the
    // caller's transaction.
    void write_binding(const std::string& id, const NameBinding& name);
    ImageRecord read_record(SqliteStatement& s);
    SqliteDb db_;
    Clock clock_;
};

}  // namespace rkt::store
