// Rendering an image's layers into tree/<id>/rootfs and building erofs/<id>.img from it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/log.h"
#include "common/process.h"
#include "common/strings.h"
#include "common/verity_info.h"
#include "stage0/store/erofs_verity.h"
#include "stage0/store/layer_reader.h"
#include "stage0/store/out_of_space.h"
#include "stage0/store/safe_fs.h"
#include "stage0/store/store_impl.h"
#include "stage0/store/tree_digest.h"
#include "stage0/store/tree_writer.h"

namespace rkt::store {
namespace {

bool exists_nofollow(const stdfs::path& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

void fsync_path(const stdfs::path& p) {
    UniqueFd fd = fs::open_file(p, O_RDONLY);
    if (::fsync(fd.get()) < 0) throw system_error("cannot fsync " + p.string());
}

// Gives a verified source file a second name in the staging area; copies when linking fails
// (another file system, or no /proc).
void link_or_copy(int src_fd, const stdfs::path& dst) {
    std::string proc = "/proc/self/fd/" + std::to_string(src_fd);
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, dst.c_str(), AT_SYMLINK_FOLLOW) == 0) return;
    UniqueFd out = fs::open_file(dst, O_WRONLY | O_CREAT | O_EXCL, 0644);
    loff_t in_off = 0;
    for (;;) {
        ssize_t n = io::retry_eintr(
            [&] { return ::copy_file_range(src_fd, &in_off, out.get(), nullptr, 1 << 30, 0); });
        if (n < 0) {
            throw system_error("cannot copy a blob to " + dst.string());
        }
        if (n == 0) break;
    }
}

std::string compression_name(oci::Compression c) {
    switch (c) {
        case oci::Compression::kGzip:
            return "gzip";
        case oci::Compression::kZstd:
            return "zstd";
        default:
            return "none";
    }
}

// A filesystem UUID derived from the image id, so the same image gives the same erofs bytes.
std::string uuid_for(const std::string& id) {
    std::string h = id.substr(7, 32);
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
           "-" + h.substr(20, 12);
}

}  // namespace

bool StoreImpl::blob_in_store(const std::string& digest) const {
    struct stat st {};
    return ::stat(layout_.blob_path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

uint64_t StoreImpl::render_into(const std::string& id, const oci::Manifest& manifest,
                                const oci::ParsedConfig& config, const BlobSource* source,
                                const stdfs::path& work, std::vector<std::string>* staged) {
    stdfs::path rootfs = work / "tree" / "rootfs";
    fs::make_dirs(rootfs);
    // Layers do not set the root's mode (their "./" entry is skipped); containers expect 0755,
    // whatever our umask.
    for (const stdfs::path& d : {rootfs.parent_path(), rootfs})
        if (::chmod(d.c_str(), 0755) < 0)
            throw system_error("cannot set the mode of " + d.string());
    UniqueFd root_fd = fs::open_dir(rootfs);
    TreeWriterOptions opts;
    opts.limits = limits_;
    opts.image_layer = true;
    opts.preserve_owner = preserve_owner_;
    TreeWriter writer(root_fd.get(), opts);

    for (size_t i = 0; i < manifest.layers.size(); ++i) {
        const oci::Descriptor& layer = manifest.layers[i];
        std::string what = "layer " + std::to_string(i) + " (" + layer.digest.substr(0, 19) + ")";
        stdfs::path staged_path = work / "blobs" / layer.hex();
        bool is_staged =
            staged && std::find(staged->begin(), staged->end(), layer.digest) != staged->end();
        UniqueFd in;
        UniqueFd tee;
        bool link = false;
        if (blob_in_store(layer.digest)) {
            in = fs::open_file(layout_.blob_path(layer.digest), O_RDONLY);
        } else if (is_staged) {
            in = fs::open_file(staged_path, O_RDONLY);
        } else if (source && staged) {
            in = source->open(layer);
            if (source->owned())
                link = true;
            else
                tee = fs::open_file(staged_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        } else {
            throw Error(what + " of image " + id +
                        " is missing from the store; remove the image and fetch it again");
        }

        LayerReader reader(in.get(), what, layer.size, limits_.max_layer_bytes,
                           tee ? tee.get() : -1);
        writer.apply(reader);
        LayerDigests got = reader.finish();
        if (got.size != layer.size)
            throw Error(what + ": " + std::to_string(got.size) + " bytes, but the manifest says " +
                        std::to_string(layer.size));
        if (got.digest != layer.digest)
            throw Error(what + ": digest mismatch (content hashes to " + got.digest + ")");
        if (got.diff_id != config.diff_ids[i])
            throw Error(what + ": DiffID mismatch (the uncompressed layer hashes to " +
                        got.diff_id + ", the image config says " + config.diff_ids[i] + ")");
        auto declared = oci::layer_compression(layer.media_type);
        if (declared && *declared != got.compression)
            log::debug(what + ": media type " + layer.media_type + " but the data is " +
                       compression_name(got.compression) + "-compressed; used the data's");
        if (link) link_or_copy(in.get(), staged_path);
        if (tee || link) staged->push_back(layer.digest);
    }
    return fs::tree_size(rootfs);
}

void StoreImpl::publish_blobs(const stdfs::path& work, const std::vector<std::string>& staged) {
    for (const auto& digest : staged) {
        stdfs::path src = work / "blobs" / digest.substr(7);
        fsync_path(src);
        stdfs::path dst = layout_.blob_path(digest);
        // NOREPLACE: a blob already in place was verified by whoever put it there.
        if (::renameat2(AT_FDCWD, src.c_str(), AT_FDCWD, dst.c_str(), RENAME_NOREPLACE) < 0 &&
            errno != EEXIST)
            throw system_error("cannot move blob " + digest + " into the store");
    }
    if (!staged.empty()) fs::fsync_dir(layout_.blobs_dir);
}

void StoreImpl::publish_tree(const std::string& id, const stdfs::path& work) {
    stdfs::path tree = work / "tree";
    fs::write_file(tree / ".digest", store::tree_digest(tree / "rootfs") + "\n");
    fs::write_file(tree / ".rendered", id + "\n");
    stdfs::path dst = layout_.tree_path(id);
    if (exists_nofollow(dst)) {
        if (exists_nofollow(layout_.rendered_marker(id))) return;  // a complete tree is there
        TmpEntry stale = TmpEntry::reserve_file(layout_, "stale");
        if (::rename(dst.c_str(), stale.path().c_str()) < 0)
            throw system_error("cannot move an incomplete " + dst.string() + " away");
    }
    if (::rename(tree.c_str(), dst.c_str()) < 0)
        throw system_error("cannot move the rendered tree to " + dst.string());
    fs::fsync_dir(layout_.tree_dir);
}

stdfs::path StoreImpl::render_locked(const std::string& id) {
    if (exists_nofollow(layout_.rendered_marker(id))) return layout_.rootfs_path(id);
    ImageRecord r = require(id);
    return with_context("cannot render image " + id, [&] {
        std::string manifest_bytes = read_store_blob(r.manifest_digest, limits_.max_manifest_bytes);
        oci::Manifest m =
            oci::parse_manifest(manifest_bytes, r.manifest_media_type, limits_.max_manifest_bytes);
        std::string config_bytes = read_store_blob(m.config.digest, limits_.max_manifest_bytes);
        oci::ParsedConfig pc = oci::parse_config(config_bytes, limits_.max_manifest_bytes);
        if (pc.diff_ids.size() != m.layers.size())
            throw Error("the image config and manifest disagree on the number of layers");
        TmpEntry work = TmpEntry::make_dir(layout_, "render");
        uint64_t size = render_into(id, m, pc, nullptr, work.path(), nullptr);
        publish_tree(id, work.path());
        index_.set_tree(id, true, size);
        return layout_.rootfs_path(id);
    });
}

stdfs::path StoreImpl::render_tree(const std::string& id) {
    require(id);
    if (exists_nofollow(layout_.rendered_marker(id))) return layout_.rootfs_path(id);
    FileLock image_lock = lock_image(id);
    return explain_out_of_space("the tree of image " + id.substr(0, 19), layout_.root,
                                [&] { return render_locked(id); });
}

std::optional<VerityInfo> StoreImpl::complete_erofs(const std::string& id) const {
    if (!exists_nofollow(layout_.erofs_path(id)) || !exists_nofollow(layout_.verity_path(id)))
        return std::nullopt;
    try {
        VerityInfo info = read_verity_info(layout_.verity_path(id));
        UniqueFd fd = fs::open_file(layout_.erofs_path(id), O_RDONLY | O_NOFOLLOW);
        if (verity_tree_matches(fd.get(), info)) return info;
        log::debug("erofs image of " + id + ": its dm-verity parameters do not match it");
    } catch (const Error& e) {
        log::debug("erofs image of " + id + ": " + e.what());
    }
    return std::nullopt;
}

// mkfs.erofs, then the hash tree appended to the same file; the image is renamed into place
// before its sidecar, so a reader never takes a new sidecar for an old image: until both are
// in place they do not match, and the reader waits for the image lock.
void StoreImpl::build_erofs_locked(const std::string& id) {
    stdfs::path img = layout_.erofs_path(id);
    stdfs::path rootfs = render_locked(id);
    auto mkfs = find_executable("mkfs.erofs");
    if (!mkfs)
        throw Error(
            "mkfs.erofs is not installed (Debian package erofs-utils); it builds the "
            "erofs images of the kvm stage1");
    TmpEntry out = TmpEntry::reserve_file(layout_, "erofs", ".img");
    SpawnOptions opts;
    opts.capture_stdout = true;
    opts.capture_stderr = true;
    with_context("cannot build the erofs image of " + id, [&] {
        run_command_checked({*mkfs, "--quiet", "--preserve-mtime", "-U" + uuid_for(id),
                             out.path().string(), rootfs.string()},
                            opts);
    });
    VerityInfo info = with_context("cannot build the dm-verity hash tree of " + id, [&] {
        UniqueFd fd = fs::open_file(out.path(), O_RDWR | O_NOFOLLOW);
        VerityInfo v = append_verity_tree(fd.get(), random_verity_salt());
        if (::fsync(fd.get()) < 0) throw system_error("cannot fsync " + out.path().string());
        return v;
    });
    TmpEntry sidecar = TmpEntry::reserve_file(layout_, "verity", ".verity");
    fs::write_file(sidecar.path(), to_json(info), 0644);
    fsync_path(sidecar.path());
    if (::rename(out.path().c_str(), img.c_str()) < 0)
        throw system_error("cannot move the erofs image to " + img.string());
    if (::rename(sidecar.path().c_str(), layout_.verity_path(id).c_str()) < 0)
        throw system_error("cannot move the dm-verity parameters to " +
                           layout_.verity_path(id).string());
    fs::fsync_dir(layout_.erofs_dir);
    index_.set_erofs(id, true);
}

stdfs::path StoreImpl::erofs_image(const std::string& id) {
    erofs_verity(id);
    return layout_.erofs_path(id);
}

VerityInfo StoreImpl::erofs_verity(const std::string& id) {
    require(id);
    if (auto info = complete_erofs(id)) return *info;
    FileLock image_lock = lock_image(id);
    if (auto info = complete_erofs(id)) return *info;
    // Absent, from before the store wrote hash trees, or torn by a killed build: built anew.
    explain_out_of_space("the erofs image of " + id.substr(0, 19), layout_.root,
                         [&] { build_erofs_locked(id); });
    auto info = complete_erofs(id);
    if (!info) throw Error("the erofs image of " + id + " does not match its dm-verity parameters");
    return *info;
}

std::string StoreImpl::tree_digest(const std::string& id) {
    render_tree(id);
    auto stored = [&]() -> std::optional<std::string> {
        auto text = fs::read_file_if_exists(layout_.tree_digest_path(id));
        if (!text) return std::nullopt;
        std::string d = strings::trim(*text);
        if (!is_valid_tree_digest(d)) return std::nullopt;
        return d;
    };
    if (auto d = stored()) return *d;
    FileLock image_lock = lock_image(id);
    if (auto d = stored()) return *d;
    // A tree rendered before the store kept digests.
    std::string d = store::tree_digest(layout_.rootfs_path(id));
    TmpEntry out = TmpEntry::reserve_file(layout_, "digest");
    fs::write_file(out.path(), d + "\n", 0644);
    fsync_path(out.path());
    if (::rename(out.path().c_str(), layout_.tree_digest_path(id).c_str()) < 0)
        throw system_error("cannot move the tree digest to " +
                           layout_.tree_digest_path(id).string());
    return d;
}

}  // namespace rkt::store
