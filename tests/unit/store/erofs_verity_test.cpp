// The store's dm-verity hash trees against veritysetup's own (cryptsetup-bin): the same salt
// must give the same root hash and the same hash area, byte for byte, at every tree shape.
#include "stage0/store/erofs_verity.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>

#include "common/error.h"
#include "common/fs.h"
#include "common/process.h"
#include "common/strings.h"
#include "common/unique_fd.h"
#include "store_test_util.h"

namespace rkt::store::testing {
namespace {

class VerityTreeTest : public StoreTest {
protected:
    void SetUp() override {
        StoreTest::SetUp();
        veritysetup_ = find_executable("veritysetup").value_or("");
        if (veritysetup_.empty()) {
            for (const char* p : {"/usr/sbin/veritysetup", "/sbin/veritysetup"})
                if (::access(p, X_OK) == 0) veritysetup_ = p;
        }
    }

    // A data file of `size` bytes: random in its first and last 64 KiB, zero (sparse) between.
    stdfs::path make_data(const std::string& name, uint64_t size) {
        stdfs::path p = tmp_ / name;
        UniqueFd fd = fs::open_file(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        std::mt19937_64 rng(size);
        std::string chunk(std::min<uint64_t>(size, 65536), '\0');
        for (char& c : chunk) c = static_cast<char>(rng());
        EXPECT_EQ(::pwrite(fd.get(), chunk.data(), chunk.size(), 0),
                  static_cast<ssize_t>(chunk.size()));
        if (size > chunk.size()) {
            EXPECT_EQ(::pwrite(fd.get(), chunk.data(), chunk.size(),
                               static_cast<off_t>(size - chunk.size())),
                      static_cast<ssize_t>(chunk.size()));
        }
        EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
        return p;
    }

    static VeritySalt salt_of(uint8_t seed) {
        VeritySalt s{};
        for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(size_t{seed} * 31 + i);
        return s;
    }

    static std::string field(const std::string& out, const std::string& name) {
        auto at = out.find(name);
        if (at == std::string::npos) return {};
        auto line_end = out.find('\n', at);
        return strings::trim(out.substr(at + name.size(), line_end - at - name.size()));
    }

    // Appends our tree to a copy of the data, runs veritysetup format on the data into a hash
    // file, and compares.
    void compare_with_veritysetup(uint64_t size, uint64_t expect_hash_blocks) {
        if (veritysetup_.empty())
            GTEST_SKIP() << "veritysetup (Debian package cryptsetup-bin) is not installed";
        stdfs::path data = make_data("data", size);
        stdfs::path image = tmp_ / "image";
        stdfs::copy_file(data, image);
        VeritySalt salt = salt_of(static_cast<uint8_t>(size));
        VerityInfo info;
        {
            UniqueFd fd = fs::open_file(image, O_RDWR);
            info = append_verity_tree(fd.get(), salt);
        }
        uint64_t blocks = (size + 4095) / 4096;
        EXPECT_EQ(info.data_blocks, blocks);
        EXPECT_EQ(info.hash_offset, blocks * 4096);
        EXPECT_EQ(verity_hash_blocks(blocks), expect_hash_blocks);
        EXPECT_EQ(stdfs::file_size(image), info.file_size());
        validate_verity_info(info);

        // veritysetup wants whole blocks of data.
        ASSERT_EQ(::truncate(data.c_str(), static_cast<off_t>(blocks * 4096)), 0);
        stdfs::path hash = tmp_ / "hash";
        std::string out =
            run_command_checked({veritysetup_, "format", "--no-superblock", "--salt=" + info.salt,
                                 data.string(), hash.string()});
        EXPECT_EQ(field(out, "Root hash:"), info.root_hash) << out;
        EXPECT_EQ(field(out, "Hash blocks:"), std::to_string(expect_hash_blocks)) << out;
        std::string ours = fs::read_file(image).substr(info.hash_offset);
        std::string theirs = fs::read_file(hash);
        ASSERT_EQ(ours.size(), theirs.size());
        EXPECT_TRUE(ours == theirs) << "hash areas differ";

        // veritysetup accepts the image as the store writes it (tree after the data), and
        // refuses it after one flipped data byte.
        SpawnOptions quiet;  // its "Verification failed" lines are expected below
        quiet.capture_stdout = true;
        quiet.capture_stderr = true;
        auto verify = [&] {
            return run_command({veritysetup_, "verify", "--no-superblock", "--salt=" + info.salt,
                                "--data-blocks=" + std::to_string(info.data_blocks),
                                "--hash-offset=" + std::to_string(info.hash_offset), image.string(),
                                image.string(), info.root_hash})
                .exit_code;
        };
        EXPECT_EQ(verify(), 0);
        UniqueFd fd = fs::open_file(image, O_RDWR);
        EXPECT_TRUE(verity_tree_matches(fd.get(), info));
        EXPECT_EQ(verity_root_hash(fd.get(), info), info.root_hash);
        char c = 0;
        off_t at = static_cast<off_t>(size / 2);
        ASSERT_EQ(::pread(fd.get(), &c, 1, at), 1);
        c = static_cast<char>(c ^ 0x40);
        ASSERT_EQ(::pwrite(fd.get(), &c, 1, at), 1);
        EXPECT_NE(verify(), 0);
        EXPECT_NE(verity_root_hash(fd.get(), info), info.root_hash);
    }

    std::string veritysetup_;
};

TEST_F(VerityTreeTest, OneBlockHasNoTree) {
    compare_with_veritysetup(4096, 0);
}
TEST_F(VerityTreeTest, PartialBlockIsPadded) {
    compare_with_veritysetup(5000, 1);
}
TEST_F(VerityTreeTest, OneFullHashBlock) {
    compare_with_veritysetup(128ull * 4096, 1);
}
TEST_F(VerityTreeTest, TwoLevels) {
    compare_with_veritysetup(129ull * 4096, 3);
}
TEST_F(VerityTreeTest, ThreeLevels) {
    // 16385 blocks: 129 blocks of hashes, 2 above them, 1 at the top.
    compare_with_veritysetup(16385ull * 4096, 129 + 2 + 1);
}

TEST_F(VerityTreeTest, EmptyFileIsOneZeroBlock) {
    stdfs::path p = tmp_ / "empty";
    fs::write_file(p, "");
    UniqueFd fd = fs::open_file(p, O_RDWR);
    VerityInfo info = append_verity_tree(fd.get(), salt_of(1));
    EXPECT_EQ(info.data_blocks, 1u);
    EXPECT_EQ(stdfs::file_size(p), 4096u);
    EXPECT_TRUE(verity_tree_matches(fd.get(), info));
}

TEST_F(VerityTreeTest, TreeMatchesTellsAnotherSaltOrSizeApart) {
    stdfs::path p = make_data("d", 300ull * 4096);
    UniqueFd fd = fs::open_file(p, O_RDWR);
    VerityInfo info = append_verity_tree(fd.get(), salt_of(2));
    EXPECT_TRUE(verity_tree_matches(fd.get(), info));
    VerityInfo other = info;
    other.salt[0] = other.salt[0] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(verity_tree_matches(fd.get(), other));
    other = info;
    other.root_hash[5] = other.root_hash[5] == '0' ? '1' : '0';
    EXPECT_FALSE(verity_tree_matches(fd.get(), other));
    ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(info.file_size() + 4096)), 0);
    EXPECT_FALSE(verity_tree_matches(fd.get(), info));
}

TEST_F(VerityTreeTest, RandomSaltsDiffer) {
    EXPECT_NE(random_verity_salt(), random_verity_salt());
}

}  // namespace
}  // namespace rkt::store::testing
