// Where the TPM settings come from: flags over the local tpm.d over the system tpm.d.
#include "stage0/tpm/tpm_settings.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "common/error.h"

namespace rkt::tpm {
namespace {

namespace stdfs = std::filesystem;

class TpmSettingsTest : public ::testing::Test {
protected:
    void SetUp() override {
        root = stdfs::temp_directory_path() / ("rkt-tpmset-" + std::to_string(::getpid()));
        stdfs::create_directories(root / "sys/tpm.d");
        stdfs::create_directories(root / "local/tpm.d");
    }
    void TearDown() override { stdfs::remove_all(root); }
    void write(const std::string& rel, const std::string& text) {
        std::ofstream(root / rel) << text;
    }
    TpmSettings load(const std::string& mode = "", const std::string& tcti = "") {
        return load_tpm_settings(root / "sys", root / "local", mode, tcti);
    }
    stdfs::path root;
};

TEST_F(TpmSettingsTest, Defaults) {
    TpmSettings s = load();
    EXPECT_EQ(s.mode, TpmMode::kAuto);
    EXPECT_EQ(s.pcr, 23u);
    EXPECT_EQ(s.timeout.count(), 10000);
}

TEST_F(TpmSettingsTest, LocalOverSystemFlagsOverBoth) {
    write(
        "sys/tpm.d/10.json",
        R"({"rktKind":"tpm","rktVersion":"v1","mode":"required","tcti":"swtpm:port=1","pcr":16})");
    write("local/tpm.d/10.json", R"({"rktKind":"tpm","rktVersion":"v1","tcti":"swtpm:port=2"})");
    write("local/tpm.d/20.json", R"({"rktKind":"paths","rktVersion":"v1","mode":"bogus"})");
    TpmSettings s = load();
    EXPECT_EQ(s.mode, TpmMode::kRequired);
    EXPECT_EQ(s.tcti, "swtpm:port=2");
    EXPECT_EQ(s.pcr, 16u);
    s = load("off", "swtpm:port=3");
    EXPECT_EQ(s.mode, TpmMode::kOff);
    EXPECT_EQ(s.tcti, "swtpm:port=3");
    EXPECT_EQ(effective_tcti(s), "swtpm:port=3");
}

TEST_F(TpmSettingsTest, BadValuesAreOneClearError) {
    EXPECT_THROW(load("sometimes"), Error);
    write("local/tpm.d/10.json", R"({"rktKind":"tpm","rktVersion":"v1","pcr":24})");
    try {
        load();
        ADD_FAILURE();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("10.json"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("0-23"), std::string::npos) << e.what();
    }
    write("local/tpm.d/10.json", R"({"rktKind":"tpm","rktVersion":"v1","timeout":"forever"})");
    EXPECT_THROW(load(), Error);
}

}  // namespace
}  // namespace rkt::tpm
