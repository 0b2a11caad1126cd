// guest-init's dm-verity table line, and its refusal of host parameters that would not go into
// a kernel string as they are. (The device itself is made in a real guest:
// tests/e2e/test_verity.py.)
#include "guest-init/dm_verity.h"

#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <functional>
#include <vector>

#include "common/error.h"

namespace rkt::guest_init {
namespace {

guest::DiskVerity sample() {
    return {300, 300, std::string(64, 'c'), std::string(64, '5')};
}

TEST(GuestDmVerity, TableLine) {
    EXPECT_EQ(verity_table(makedev(254, 16), sample()),
              "1 254:16 254:16 4096 4096 300 300 sha256 " + std::string(64, 'c') + " " +
                  std::string(64, '5') + " 1 panic_on_corruption");
}

TEST(GuestDmVerity, RefusesWhatCouldBendTheTable) {
    for (const auto& edit : std::vector<std::function<void(guest::DiskVerity&)>>{
             [](auto& v) { v.data_blocks = 0; }, [](auto& v) { v.hash_start_block = 299; },
             [](auto& v) { v.data_blocks = v.hash_start_block = (uint64_t{1} << 40) + 1; },
             [](auto& v) { v.root_hash[62] = ' '; }, [](auto& v) { v.salt[63] = '\n'; },
             [](auto& v) { v.salt.resize(1); }, [](auto& v) { v.root_hash.clear(); }}) {
        guest::DiskVerity v = sample();
        edit(v);
        EXPECT_THROW(verity_table(makedev(254, 0), v), Error);
        EXPECT_THROW(create_verity_device("x", "/nonexistent", v), Error);
    }
}

TEST(GuestDmVerity, RefusesBadNamesAndDisks) {
    EXPECT_THROW(create_verity_device("", "/dev/null", sample()), Error);
    EXPECT_THROW(create_verity_device(std::string(200, 'n'), "/dev/null", sample()), Error);
    try {
        create_verity_device("rkt-test", "/dev/null", sample());
        FAIL() << "a character device was taken for a disk";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("is not a block device"), std::string::npos);
    }
}

}  // namespace
}  // namespace rkt::guest_init
