#include "stage0/store/image_index.h"

#include <chrono>

#include "common/error.h"

namespace rkt::store {
namespace {

constexpr const char* kImageColumns =
    "id, manifest_digest, manifest_media_type, config_digest, config_json, blobs_size, "
    "tree_size, rendered, erofs, import_time, last_used";

// Version 1. Later versions add migrations keyed on PRAGMA user_version.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    manifest_digest TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    config_digest TEXT NOT NULL,
    config_json TEXT NOT NULL,
    blobs_size INTEGER NOT NULL,
    tree_size INTEGER NOT NULL DEFAULT 0,
    rendered INTEGER NOT NULL DEFAULT 0,
    erofs INTEGER NOT NULL DEFAULT 0,
    import_time INTEGER NOT NULL,
    last_used INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS names (
    name TEXT NOT NULL,
    tag TEXT NOT NULL,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    bound_time INTEGER NOT NULL,
    PRIMARY KEY (name, tag)
);
CREATE INDEX IF NOT EXISTS names_image ON names(image_id);
CREATE TABLE IF NOT EXISTS image_blobs (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    role TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (image_id, role, position)
);
CREATE INDEX IF NOT EXISTS image_blobs_digest ON image_blobs(digest);
)sql";

}  // namespace

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

ImageIndex::ImageIndex(const std::filesystem::path& db_path, Clock clock)
    : db_(db_path), clock_(std::move(clock)) {
    init_schema();
}

void ImageIndex::init_schema() {
    auto version = [&] {
        SqliteStatement s(db_, "PRAGMA user_version");
        s.step();
        return s.column_int(0);
    };
    if (version() == kSchemaVersion) return;
    SqliteTransaction tx(db_);
    int64_t v = version();  // again, now that we hold the write lock
    if (v > kSchemaVersion)
        throw Error("the image store " + db_.path().string() + " has schema version " +
                    std::to_string(v) + ", newer than this rkt understands (" +
                    std::to_string(kSchemaVersion) + "); use a newer rkt");
    if (v < kSchemaVersion) {
        db_.exec(kSchemaV1);
        db_.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
    }
    tx.commit();
}

ImageRecord ImageIndex::read_record(SqliteStatement& s) {
    ImageRecord r;
    r.id = s.column_text(0);
    r.manifest_digest = s.column_text(1);
    r.manifest_media_type = s.column_text(2);
    r.config_digest = s.column_text(3);
    r.config_json = s.column_text(4);
    r.blobs_size = static_cast<uint64_t>(s.column_int(5));
    r.tree_size = static_cast<uint64_t>(s.column_int(6));
    r.rendered = s.column_int(7) != 0;
    r.erofs = s.column_int(8) != 0;
    r.import_time_ms = s.column_int(9);
    r.last_used_ms = s.column_int(10);
    return r;
}

std::optional<ImageRecord> ImageIndex::find(const std::string& id) {
    SqliteStatement s(db_, std::string("SELECT ") + kImageColumns + " FROM images WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_record(s);
}

std::vector<ImageRecord> ImageIndex::all() {
    SqliteStatement s(
        db_, std::string("SELECT ") + kImageColumns + " FROM images ORDER BY import_time, id");
    std::vector<ImageRecord> out;
    while (s.step()) out.push_back(read_record(s));
    return out;
}

std::vector<std::string> ImageIndex::ids_with_prefix(const std::string& id_prefix) {
    SqliteStatement s(db_, "SELECT id FROM images WHERE substr(id, 1, ?) = ? ORDER BY id");
    s.bind(1, static_cast<int64_t>(id_prefix.size())).bind(2, id_prefix);
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.column_text(0));
    return out;
}

std::optional<std::string> ImageIndex::id_for_name(const std::string& name,
                                                   const std::string& tag) {
    SqliteStatement s(db_, "SELECT image_id FROM names WHERE name = ? AND tag = ?");
    s.bind(1, name).bind(2, tag);
    if (!s.step()) return std::nullopt;
    return s.column_text(0);
}

std::vector<NameBinding> ImageIndex::names_of(const std::string& id) {
    SqliteStatement s(db_,
                      "SELECT name, tag FROM names WHERE image_id = ? "
                      "ORDER BY bound_time DESC, name, tag");
    s.bind(1, id);
    std::vector<NameBinding> out;
    while (s.step()) out.push_back({s.column_text(0), s.column_text(1)});
    return out;
}

std::vector<BlobRef> ImageIndex::blobs_of(const std::string& id) {
    SqliteStatement s(db_,
                      "SELECT digest, size, role, position FROM image_blobs WHERE image_id = ? "
                      "ORDER BY role, position");
    s.bind(1, id);
    std::vector<BlobRef> out;
    while (s.step())
        out.push_back({s.column_text(0), static_cast<uint64_t>(s.column_int(1)), s.column_text(2),
                       static_cast<int>(s.column_int(3))});
    return out;
}

std::set<std::string> ImageIndex::referenced_blobs() {
    SqliteStatement s(db_, "SELECT DISTINCT digest FROM image_blobs");
    std::set<std::string> out;
    while (s.step()) out.insert(s.column_text(0));
    return out;
}

int64_t ImageIndex::other_references(const std::string& digest, const std::string& id) {
    SqliteStatement s(db_, "SELECT COUNT(*) FROM image_blobs WHERE digest = ? AND image_id != ?");
    s.bind(1, digest).bind(2, id);
    s.step();
    return s.column_int(0);
}

void ImageIndex::insert(const ImageRecord& image, const std::vector<BlobRef>& blobs,
                        const std::optional<NameBinding>& name) {
    SqliteTransaction tx(db_);
    SqliteStatement exists(db_, "SELECT 1 FROM images WHERE id = ?");
    exists.bind(1, image.id);
    if (!exists.step()) {
        SqliteStatement ins(db_, std::string("INSERT INTO images (") + kImageColumns +
                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        ins.bind(1, image.id)
            .bind(2, image.manifest_digest)
            .bind(3, image.manifest_media_type)
            .bind(4, image.config_digest)
            .bind(5, image.config_json)
            .bind(6, static_cast<int64_t>(image.blobs_size))
            .bind(7, static_cast<int64_t>(image.tree_size))
            .bind(8, static_cast<int64_t>(image.rendered))
            .bind(9, static_cast<int64_t>(image.erofs))
            .bind(10, image.import_time_ms)
            .bind(11, image.last_used_ms);
        ins.run();
        for (const auto& b : blobs) {
            SqliteStatement one(db_,
                                "INSERT INTO image_blobs (image_id, digest, size, role, position) "
                                "VALUES (?, ?, ?, ?, ?)");
            one.bind(1, image.id)
                .bind(2, b.digest)
                .bind(3, static_cast<int64_t>(b.size))
                .bind(4, b.role)
                .bind(5, static_cast<int64_t>(b.position));
            one.run();
        }
    }
    if (name) write_binding(image.id, *name);
    tx.commit();
}

void ImageIndex::bind_name(const std::string& id, const NameBinding& name) {
    SqliteTransaction tx(db_);
    write_binding(id, name);
    tx.commit();
}

void ImageIndex::mark_used(const std::string& id, const std::optional<NameBinding>& name,
                           int64_t ms) {
    bool rebind = false;
    if (name) {
        auto names = names_of(id);
        rebind =
            names.empty() || names.front().name != name->name || names.front().tag != name->tag;
    }
    SqliteTransaction tx(db_);
    if (rebind) write_binding(id, *name);
    set_last_used(id, ms);
    tx.commit();
}

void ImageIndex::write_binding(const std::string& id, const NameBinding& name) {
    SqliteStatement bind(db_,
                         "INSERT OR REPLACE INTO names (name, tag, image_id, bound_time) "
                         "VALUES (?, ?, ?, ?)");
    bind.bind(1, name.name).bind(2, name.tag).bind(3, id).bind(4, clock_());
    bind.run();
}

void ImageIndex::set_last_used(const std::string& id, int64_t ms) {
    SqliteStatement s(db_, "UPDATE images SET last_used = ? WHERE id = ?");
    s.bind(1, ms).bind(2, id);
    s.run();
}

void ImageIndex::set_tree(const std::string& id, bool rendered, uint64_t size) {
    SqliteStatement s(db_, "UPDATE images SET rendered = ?, tree_size = ? WHERE id = ?");
    s.bind(1, static_cast<int64_t>(rendered)).bind(2, static_cast<int64_t>(size)).bind(3, id);
    s.run();
}

void ImageIndex::set_erofs(const std::string& id, bool built) {
    SqliteStatement s(db_, "UPDATE images SET erofs = ? WHERE id = ?");
    s.bind(1, static_cast<int64_t>(built)).bind(2, id);
    s.run();
}

bool ImageIndex::erase(const std::string& id) {
    SqliteTransaction tx(db_);
    SqliteStatement s(db_, "DELETE FROM images WHERE id = ?");
    s.bind(1, id);
    s.run();
    bool erased = db_.changes() > 0;
    tx.commit();
    return erased;
}

}  // namespace rkt::store
