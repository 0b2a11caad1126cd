// Applies tar entries to a directory tree through a directory fd, treating every entry as
// hostile (see safe_fs.h). For image layers it implements OCI whiteouts (".wh.<name>", opaque
// ".wh..wh..opq" regardless of its position in the layer) and overlayfs-style whiteouts
// (character device 0/0, "trusted.overlay.opaque" = "y").
//
// Device nodes: a 0/0 character device in a layer is a whiteout. Other device nodes are created
// only when running as root (owner preservation on); otherwise they are skipped, since an
// unprivileged tree could not hold them anyway. Plain archives (OCI / docker save) may not hold
// device nodes at all.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "stage0/store/image_store.h"
#include "stage0/store/layer_reader.h"

namespace rkt::store {

struct TreeWriterOptions {
    ImportLimits limits;
    // An image layer: whiteouts are interpreted and device nodes allowed (as root). Otherwise a
    // plain archive (OCI / docker save): names are just names, files stay readable to us.
    bool image_layer = true;
    // Owners, set-id bits, xattrs and device nodes; only meaningful as root.
    bool preserve_owner = false;
};

class TreeWriter {
public:
    TreeWriter(int root_fd, TreeWriterOptions options);
    // Applies one layer on top of what the tree holds. Errors name the entry.
    void apply(LayerReader& reader);

private:
    struct DeferredDir {
        std::string path;
        mode_t mode;
        struct timespec mtime;
    };
    void apply_entry(LayerReader& reader, archive_entry* entry, const std::string& path);
    void write_regular(LayerReader& reader, archive_entry* entry, int parent_fd,
                       const std::string& name);
    void make_directory(archive_entry* entry, int parent_fd, const std::string& name,
                        const std::string& path);
    void make_hardlink(const std::string& target, int parent_fd, const std::string& name);
    void set_owner_and_times(archive_entry* entry, int parent_fd, const std::string& name,
                             bool set_mode);
    void apply_xattrs(archive_entry* entry, int fd);
    // Removes what lower layers left at `path`, keeping whatever this layer wrote there.
    void remove_lower(const std::string& path);
    void make_opaque(const std::string& dir);
    void touch(const std::string& path);
    bool has_touched_descendant(const std::string& path) const;
    void finish_directories();

    int root_fd_;
    TreeWriterOptions options_;
    std::set<std::string> touched_;  // paths written by the current layer
    uint64_t touched_bytes_ = 0;
    std::vector<DeferredDir> deferred_dirs_;
};

}  // namespace rkt::store
