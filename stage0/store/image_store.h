// The image store: content-addressed blobs, a SQLite index, rendered trees and erofs images
// under <data-dir>/cas (docs/architecture.md, "Image store"). Safe under concurrent rkt
// processes; a process killed at any point leaves nothing half-written visible.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/pod_manifest.h"
#include "common/verity_info.h"

namespace rkt::store {

namespace stdfs = std::filesystem;
using Clock = std::chrono::system_clock;

// The runnable parts of an image config, normalised from OCI / Docker config JSON.
struct ImageConfig {
    std::string os = "linux";
    std::string architecture = "amd64";
    std::vector<std::string> entrypoint;
    std::vector<std::string> cmd;
    std::vector<EnvVar> env;
    std::string user;  // as in the config: "", "1000", "1000:1000", "name:group"
    std::string working_dir;
    std::map<std::string, std::string> labels;
    std::vector<std::string> exposed_ports;  // "80/tcp"
    std::vector<std::string> volumes;        // "/data"

    nlohmann::json to_json() const;
    static ImageConfig from_json(const nlohmann::json& j);  // of to_json()'s shape
};

struct ImageInfo {
    std::string id;               // "sha256-<64 hex>" (the manifest digest)
    std::string name;             // e.g. "example.com/inspect" or "127.0.0.1:5000/x/y"
    std::string tag;              // e.g. "latest"
    std::string manifest_digest;  // "sha256:<hex>"
    uint64_t size = 0;            // bytes of blobs plus rendered tree
    Clock::time_point import_time;
    Clock::time_point last_used;
    ImageConfig config;
    // Every "name:tag" bound to this image, most recently bound first (name/tag is the first).
    std::vector<std::string> names;

    std::string short_id() const { return id.substr(0, 7 + 12); }
    std::string full_name() const { return tag.empty() ? name : name + ":" + tag; }
};

// Limits applied while reading hostile input (layers, manifests).
struct ImportLimits {
    uint64_t max_manifest_bytes = 4 << 20;
    uint64_t max_entry_bytes = 8ull << 30;  // one file in a layer
    uint64_t max_layer_entries = 1'000'000;
    uint64_t max_path_length = 4096;
    // The decompressed size of one layer: bounds the work a small compressed bomb can cause.
    uint64_t max_layer_bytes = 64ull << 30;
};

// Writes one blob: hashed while written, renamed into place by commit() only when the digest
// and size match. An uncommitted writer leaves a partial file that a later writer for the same
// digest resumes from (resume_offset()). Writers of different blobs may run in parallel threads.
class BlobWriter {
public:
    virtual ~BlobWriter() = default;
    virtual uint64_t resume_offset() const = 0;
    virtual void write(const void* data, size_t size) = 0;
    // Verifies and publishes the blob; throws Error (and discards the partial file) on mismatch.
    virtual void commit() = 0;
    // Discards any partial data (e.g. when the server cannot resume).
    virtual void restart() = 0;
    // True when the blob was already in the store when this writer started (e.g. another process
    // committed it after has_blob() said no). write() then discards its data and commit() does
    // nothing; a fetcher should skip the download. A writer never waits for another writer of
    // the same digest: if one is busy with the partial file, this one writes a private file.
    virtual bool already_present() const = 0;
};

// One ImageStore object is meant for one thread; several processes may share the store.
class ImageStore {
public:
    // Opens (creating if needed) the store under <data_dir>/cas, and removes tmp/ debris that
    // killed processes left behind.
    static std::unique_ptr<ImageStore> open(const stdfs::path& data_dir,
                                            const ImportLimits& limits = {});
    virtual ~ImageStore() = default;

    // Imports an OCI image layout directory; `ref` selects a tag
    // (org.opencontainers.image.ref.name) when the index holds several. `name` is the name to
    // record (empty: derive from the ref or the directory name). Re-importing an image already
    // present only updates its name.
    virtual ImageInfo import_oci_layout(const stdfs::path& dir, const std::string& ref,
                                        const std::string& name) = 0;
    // Imports an OCI archive (tar of a layout) or a `docker save` archive (manifest.json).
    virtual ImageInfo import_archive(const stdfs::path& tar, const std::string& ref,
                                     const std::string& name) = 0;

    // Blob plumbing for fetchers (registry issue). From the first has_blob()/begin_blob() until
    // register_image() (or the store object's end) this object holds a shared lease that stops
    // blob gc, so blobs that no image references yet are not collected under the fetch.
    virtual bool has_blob(const std::string& digest) const = 0;
    virtual std::unique_ptr<BlobWriter> begin_blob(const std::string& digest,
                                                   std::optional<uint64_t> size) = 0;
    // Registers an image whose manifest and all blobs it names are already in the store. Like an
    // import, it checks every layer (digest, size, DiffID, hostile entries) by rendering the
    // tree before the image becomes visible.
    virtual ImageInfo register_image(const std::string& manifest_digest, const std::string& name,
                                     const std::string& tag) = 0;

    // Finds an image by id (any unambiguous prefix of >= 6 hex digits, with or without
    // "sha256-"), or by name[:tag] (tag defaults to "latest"). Throws on ambiguity.
    virtual std::optional<ImageInfo> resolve(const std::string& ref) const = 0;
    virtual std::vector<ImageInfo> list() const = 0;
    virtual std::string manifest_json(const std::string& id) const = 0;
    virtual void touch(const std::string& id) = 0;
    // Removes the image's index entry, its rendered tree and erofs image; blobs only when no
    // other image references them.
    virtual void remove(const std::string& id) = 0;
    // Removes images not used since `grace` (except those in `in_use`), then unreferenced blobs.
    // Returns the ids removed.
    virtual std::vector<std::string> gc(std::chrono::milliseconds grace,
                                        const std::set<std::string>& in_use) = 0;
    // Re-hashes every blob and checks every image's references; returns one line per problem.
    virtual std::vector<std::string> verify() const = 0;

    // The rendered root filesystem of an image (rendering it once, under a lock).
    virtual stdfs::path render_tree(const std::string& id) = 0;
    // A read-only erofs image of the rendered tree (built once with mkfs.erofs, under a lock),
    // its dm-verity hash tree appended (stage0/store/erofs_verity.h).
    virtual stdfs::path erofs_image(const std::string& id) = 0;
    // The dm-verity parameters of erofs_image(id) (erofs/<id>.verity, checked against the
    // image); an image built before the store wrote them is built again first.
    virtual VerityInfo erofs_verity(const std::string& id) = 0;
    // "sha256:<hex>" of the rendered tree (stage0/store/tree_digest.h), computed once when the
    // tree is rendered (or on first use for older trees) and kept in tree/<id>/.digest.
    virtual std::string tree_digest(const std::string& id) = 0;
    // Writes the image as an OCI archive (tar of an OCI layout) to `out`.
    virtual void export_oci_archive(const std::string& id, const stdfs::path& out) = 0;

    virtual stdfs::path root() const = 0;
};

}  // namespace rkt::store
