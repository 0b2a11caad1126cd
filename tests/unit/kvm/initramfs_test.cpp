#include "stage1-kvm/initramfs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/fs.h"

namespace rkt::kvm {
namespace {

namespace stdfs = std::filesystem;

struct CpioEntry {
    std::string name;
    unsigned mode = 0;
    unsigned rdev_major = 0, rdev_minor = 0;
    std::string data;
};

// A newc reader written from the format's description, to check what the kernel will unpack.
std::vector<CpioEntry> parse_newc(const std::string& a) {
    std::vector<CpioEntry> out;
    size_t off = 0;
    auto field = [&](size_t base, int i) {
        return static_cast<unsigned>(std::stoul(a.substr(base + 6 + 8 * i, 8), nullptr, 16));
    };
    for (;;) {
        if (a.compare(off, 6, "070701") != 0) throw std::runtime_error("bad magic");
        CpioEntry e;
        e.mode = field(off, 1);
        unsigned size = field(off, 6);
        e.rdev_major = field(off, 9);
        e.rdev_minor = field(off, 10);
        unsigned namesize = field(off, 11);
        size_t name_at = off + 110;
        e.name = a.substr(name_at, namesize - 1);
        size_t data_at = (name_at + namesize + 3) & ~size_t{3};
        e.data = a.substr(data_at, size);
        off = (data_at + size + 3) & ~size_t{3};
        if (e.name == "TRAILER!!!") break;
        out.push_back(std::move(e));
    }
    if (off != a.size()) throw std::runtime_error("bytes after the trailer");
    return out;
}

TEST(Initramfs, HoldsInitAndTheConsole) {
    std::string binary =
        "\x7f"
        "ELF pretend guest-init, odd length";
    auto entries = parse_newc(make_initramfs(binary));
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(entries[0].name, "dev");
    EXPECT_TRUE(S_ISDIR(entries[0].mode));
    EXPECT_EQ(entries[1].name, "dev/console");
    EXPECT_TRUE(S_ISCHR(entries[1].mode));
    EXPECT_EQ(entries[1].rdev_major, 5u);
    EXPECT_EQ(entries[1].rdev_minor, 1u);
    EXPECT_EQ(entries[2].name, "init");
    EXPECT_EQ(entries[2].mode, static_cast<unsigned>(S_IFREG | 0755));
    EXPECT_EQ(entries[2].data, binary);
}

TEST(Initramfs, CachedOncePerGuestInit) {
    stdfs::path dir =
        stdfs::temp_directory_path() / ("rkt-initramfs-" + std::to_string(::getpid()));
    stdfs::remove_all(dir);
    stdfs::create_directories(dir / "stage1");
    stdfs::path guest_init = dir / "stage1" / "guest-init";
    std::ofstream(guest_init) << "version one";
    stdfs::path readonly_cache = "/proc/rkt-cannot-write-here";
    stdfs::path first = cached_initramfs(guest_init, {readonly_cache, dir / "cache"});
    EXPECT_EQ(first.parent_path(), dir / "cache");
    auto mtime = stdfs::last_write_time(first);
    EXPECT_EQ(cached_initramfs(guest_init, {readonly_cache, dir / "cache"}), first);
    EXPECT_EQ(stdfs::last_write_time(first), mtime);  // not rebuilt
    // Found again from guest-init's stat() alone, without hashing it.
    EXPECT_NE(fs::read_file(dir / "cache" / "initramfs.key").find(first.filename().string()),
              std::string::npos);
    // A new guest-init (same size, rewritten) gets a new initramfs; the old one goes.
    auto old_mtime = stdfs::last_write_time(guest_init);
    std::ofstream(guest_init) << "version 2ne";
    // A rebuild is never within the file system's timestamp granularity of the last stat.
    stdfs::last_write_time(guest_init, old_mtime + std::chrono::seconds(1));
    stdfs::path second = cached_initramfs(guest_init, {readonly_cache, dir / "cache"});
    EXPECT_NE(second, first);
    EXPECT_FALSE(stdfs::exists(first));
    EXPECT_EQ(parse_newc(fs::read_file(second)).back().data, "version 2ne");
    EXPECT_THROW(cached_initramfs(dir / "missing", {dir / "cache"}), Error);
    stdfs::remove_all(dir);
}

}  // namespace
}  // namespace rkt::kvm
