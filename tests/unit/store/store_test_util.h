// Shared fixture: a fresh data directory per test and views of the store's files.
#pragma once

#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <string>

#include "oci_builder.h"
#include "stage0/store/image_store.h"

namespace rkt::store::testing {

class StoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (stdfs::temp_directory_path() / "rkt-store-test-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        tmp_ = tmpl;
        data_ = tmp_ / "data";
    }
    void TearDown() override {
        if (::getenv("RKT_KEEP_TEST_DIR")) {
            fprintf(stderr, "kept %s\n", tmp_.c_str());
            return;
        }
        std::error_code ec;
        stdfs::remove_all(tmp_, ec);
    }

    std::unique_ptr<ImageStore> open_store(const ImportLimits& limits = {}) {
        return ImageStore::open(data_, limits);
    }
    stdfs::path cas() const { return data_ / "cas"; }

    std::set<std::string> names_in(const stdfs::path& dir) const {
        std::set<std::string> out;
        std::error_code ec;
        for (const auto& e : stdfs::directory_iterator(dir, ec))
            out.insert(e.path().filename().string());
        return out;
    }
    std::set<std::string> blobs() const { return names_in(cas() / "blobs" / "sha256"); }
    std::set<std::string> trees() const { return names_in(cas() / "tree"); }
    std::set<std::string> tmp_entries() const { return names_in(cas() / "tmp"); }
    std::set<std::string> tmp_locks() const {
        std::set<std::string> out;
        for (const auto& n : names_in(cas() / "locks"))
            if (n.starts_with("tmp-")) out.insert(n);
        return out;
    }

    static bool is_regular(const stdfs::path& p) {
        struct stat st {};
        return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    }
    static bool exists_nofollow(const stdfs::path& p) {
        struct stat st {};
        return ::lstat(p.c_str(), &st) == 0;
    }

    stdfs::path tmp_;
    stdfs::path data_;
};

// Asserts that `fn` throws an rkt::Error whose message contains `needle`.
#define EXPECT_ERROR_CONTAINS(stmt, needle)                                         \
    do {                                                                            \
        try {                                                                       \
            stmt;                                                                   \
            ADD_FAILURE() << "expected an error containing \"" << (needle) << "\""; \
        } catch (const rkt::Error& e) {                                             \
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)        \
                << "error was: " << e.what();                                       \
        }                                                                           \
    } while (0)

}  // namespace rkt::store::testing
