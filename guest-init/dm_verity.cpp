#include "guest-init/dm_verity.h"

#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "common/verity_info.h"

namespace rkt::guest_init {

namespace {

constexpr const char* kControl = "/dev/mapper/control";

// dm_ioctl's buffer: the header, then (for a table) one target spec and its parameters.
class DmRequest {
public:
    explicit DmRequest(const std::string& name, size_t extra = 0)
        : buf_(sizeof(dm_ioctl) + extra, '\0') {
        dm_ioctl h{};
        h.version[0] = DM_VERSION_MAJOR;
        h.data_size = static_cast<uint32_t>(buf_.size());
        h.data_start = sizeof(dm_ioctl);
        std::memcpy(h.name, name.data(), name.size());
        std::memcpy(buf_.data(), &h, sizeof h);
    }
    dm_ioctl header() const {
        dm_ioctl h{};
        std::memcpy(&h, buf_.data(), sizeof h);
        return h;
    }
    void set_header(const dm_ioctl& h) { std::memcpy(buf_.data(), &h, sizeof h); }
    char* body() { return buf_.data() + sizeof(dm_ioctl); }
    void* data() { return buf_.data(); }

private:
    std::vector<char> buf_;
};

void dm_call(int control, unsigned long request, DmRequest& r, const std::string& what) {
    if (::ioctl(control, request, r.data()) < 0)
        throw system_error(what + " (the guest console has the kernel's reason)");
}

// The kernel's dev_t encoding in dm_ioctl.dev (huge_encode_dev).
dev_t decode_dev(uint64_t dev) {
    return makedev(static_cast<unsigned>((dev & 0xfff00) >> 8),
                   static_cast<unsigned>((dev & 0xff) | ((dev >> 12) & 0xfff00)));
}

void check_parameters(const guest::DiskVerity& v) {
    if (v.data_blocks < 1 || v.data_blocks > kMaxVerityDataBlocks ||
        v.hash_start_block < v.data_blocks || v.hash_start_block > 2 * kMaxVerityDataBlocks)
        throw Error("dm-verity parameters out of range");
    if (!is_lower_hex(v.root_hash, kVerityDigestBytes) || !is_lower_hex(v.salt, kVeritySaltBytes))
        throw Error("dm-verity root hash or salt is not 64 lower-case hex digits");
}

// devtmpfs makes /dev/dm-N as the device is created; made here if it is not (yet) there.
std::string device_node(dev_t dev) {
    std::string node = "/dev/dm-" + std::to_string(minor(dev));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    for (;;) {
        struct stat st {};
        if (::stat(node.c_str(), &st) == 0) {
            if (S_ISBLK(st.st_mode) && st.st_rdev == dev) return node;
            throw Error(node + " is not the verity device " + std::to_string(major(dev)) + ":" +
                        std::to_string(minor(dev)));
        }
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (::mknod(node.c_str(), S_IFBLK | 0600, dev) < 0 && errno != EEXIST)
        throw system_error("cannot create " + node);
    return node;
}

}  // namespace

std::string verity_table(dev_t disk, const guest::DiskVerity& v) {
    check_parameters(v);
    std::string dev = std::to_string(major(disk)) + ":" + std::to_string(minor(disk));
    // panic_on_corruption: a block that is not what the host measured ends the VM at once, and
    // the host reports the guest kernel's panic line; an I/O error would leave the app to say
    // (or not say) what went wrong.
    return "1 " + dev + " " + dev + " 4096 4096 " + std::to_string(v.data_blocks) + " " +
           std::to_string(v.hash_start_block) + " sha256 " + v.root_hash + " " + v.salt +
           " 1 panic_on_corruption";
}

std::string create_verity_device(const std::string& name, const std::string& disk,
                                 const guest::DiskVerity& v) {
    if (name.empty() || name.size() >= DM_NAME_LEN) throw Error("bad device-mapper name");
    check_parameters(v);
    UniqueFd disk_fd(::open(disk.c_str(), O_RDONLY | O_CLOEXEC));
    if (!disk_fd) throw system_error("cannot open " + disk);
    struct stat st {};
    if (::fstat(disk_fd.get(), &st) < 0 || !S_ISBLK(st.st_mode))
        throw Error(disk + " is not a block device");
    uint64_t size = 0;
    if (::ioctl(disk_fd.get(), BLKGETSIZE64, &size) < 0)
        throw system_error("cannot read the size of " + disk);
    uint64_t needed = (v.hash_start_block + verity_hash_blocks(v.data_blocks)) * kVerityBlockSize;
    if (size < needed)
        throw Error(disk + " has " + std::to_string(size) + " bytes; its data and hash tree need " +
                    std::to_string(needed));
    std::string table = verity_table(st.st_rdev, v);

    UniqueFd control(::open(kControl, O_RDWR | O_CLOEXEC));
    if (!control) throw system_error(std::string("cannot open ") + kControl);

    DmRequest create(name);
    dm_call(control.get(), DM_DEV_CREATE, create, "cannot create the device-mapper device " + name);
    dev_t dev = decode_dev(create.header().dev);
    // From here on a failure removes the device again, so a retry or the next app finds no
    // half-made device under its name.
    try {
        // The spec and its NUL-terminated parameters, padded to 8 bytes as the kernel expects.
        size_t params = (table.size() + 1 + 7) / 8 * 8;
        DmRequest load(name, sizeof(dm_target_spec) + params);
        dm_ioctl h = load.header();
        h.target_count = 1;
        h.flags = DM_READONLY_FLAG;  // verity refuses a writable table
        load.set_header(h);
        dm_target_spec spec{};
        spec.sector_start = 0;
        spec.length = v.data_blocks * (kVerityBlockSize / 512);
        std::memcpy(spec.target_type, "verity", sizeof "verity");
        std::memcpy(load.body(), &spec, sizeof spec);
        std::memcpy(load.body() + sizeof spec, table.c_str(), table.size() + 1);
        dm_call(control.get(), DM_TABLE_LOAD, load, "cannot load the dm-verity table over " + disk);
        DmRequest resume(name);  // DM_DEV_SUSPEND without DM_SUSPEND_FLAG resumes
        dm_call(control.get(), DM_DEV_SUSPEND, resume, "cannot activate the dm-verity device");
        return device_node(dev);
    } catch (const Error&) {
        DmRequest remove(name);
        ::ioctl(control.get(), DM_DEV_REMOVE, remove.data());
        throw;
    }
}

}  // namespace rkt::guest_init
