#include "stage0/pod/app_rootfs.h"

#include <fcntl.h>
#include <sys/random.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "stage0/pod/tree_copy.h"

namespace rkt {

namespace stdfs = std::filesystem;

void check_stage1_supports(const PodFlags& flags, const Stage1& stage1) {
    if (flags.private_users && stage1.name != "nspawn")
        throw Error("--private-users is not supported by the " + stage1.name + " stage1" +
                    (stage1.image_format == "erofs"
                         ? " (the VM is the pod's isolation boundary); use --stage1=nspawn"
                         : "; use --stage1=nspawn"));
    if (flags.private_users && !flags.no_overlay)
        throw Error("cannot use both overlay and user namespace: add --no-overlay");
    if (flags.no_overlay && stage1.image_format != "tree")
        throw Error("--no-overlay is not supported by the " + stage1.name +
                    " stage1: its apps run from read-only " + stage1.image_format +
                    " images, not from an overlay of the image tree");
}

IdShift choose_private_users() {
    uint16_t r = 0;
    while (r == 0) {
        if (::getrandom(&r, sizeof r, 0) != sizeof r)
            throw system_error("cannot draw a random id range");
        r &= 0x7FFF;
    }
    return {static_cast<uint32_t>(r) << 16, 65536};
}

void place_app_rootfs(const stdfs::path& tree, const stdfs::path& dest, bool copy,
                      const std::optional<IdShift>& shift) {
    if (!copy) {
        std::error_code ec;
        stdfs::create_directory_symlink(tree, dest, ec);
        if (ec) throw Error("cannot link the app's rootfs: " + ec.message());
        return;
    }
    UniqueFd src = fs::open_file(tree, O_PATH | O_DIRECTORY);
    UniqueFd parent = fs::open_file(dest.parent_path(), O_PATH | O_DIRECTORY);
    TreeCopyOptions options;
    options.shift = shift;
    TreeCopyStats s = with_context("cannot copy the image tree " + tree.string(), [&] {
        return copy_tree(src.get(), parent.get(), dest.filename().string(), options);
    });
    log::debug("copied " + tree.string() + " to " + dest.string() + ": " + std::to_string(s.files) +
               " files (" + std::to_string(s.cloned_files) + " cloned), " +
               std::to_string(s.bytes) + " bytes, " + std::to_string(s.directories) +
               " directories, " + std::to_string(s.symlinks) + " symlinks, " +
               std::to_string(s.hard_links) + " hard links" +
               (shift ? ", owners shifted by " + std::to_string(shift->shift) : ""));
}

void mark_private_users_prepared(const stdfs::path& pod_dir) {
    fs::write_file(pod_dir / "private-users-prepared", "");
}

}  // namespace rkt
