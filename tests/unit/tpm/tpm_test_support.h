// What the TPM tests share: a real software TPM (swtpm) per test, loopback sockets that play a
// TPM that never answers, and the PCR arithmetic computed without the TPM.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/process.h"
#include "common/unique_fd.h"

namespace rkt::tpm::test {

bool have_swtpm();

// Two loopback TCP sockets listening on consecutive ports (the swtpm TCTI finds the control
// port next to the command port). Nobody accepts on them unless they are handed to swtpm.
struct ListeningPorts {
    UniqueFd server;
    UniqueFd ctrl;
    uint16_t port = 0;
    std::string tcti() const;
};
ListeningPorts listen_on_free_ports();

// A fresh directory under the temporary directory, removed with the object.
class ScratchDir {
public:
    ScratchDir();
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

class Swtpm {
public:
    enum class Startup { kClear, kNone };
    // A fresh TPM: new state directory, and (kClear) already started, as firmware leaves one.
    explicit Swtpm(Startup startup = Startup::kClear);
    ~Swtpm();
    Swtpm(const Swtpm&) = delete;
    Swtpm& operator=(const Swtpm&) = delete;

    const std::string& tcti() const { return tcti_; }
    // SIGSTOP / SIGCONT: a TPM that stops answering mid-session.
    void pause();
    void resume();

private:
    ScratchDir state_;  // outlives the process
    ChildProcess process_;
    std::string tcti_;
};

// A test with a fresh swtpm of its own (skipped where swtpm is not installed).
class SwtpmTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override { swtpm_.reset(); }

    std::unique_ptr<Swtpm> swtpm_;
};

// The digest `alg` ("sha1" ... "sha512") of `data`, by Nettle.
std::vector<uint8_t> digest(const std::string& alg, const std::vector<uint8_t>& data);
std::vector<uint8_t> bytes(const std::string& s);
std::string hex(const std::vector<uint8_t>& data);

// The message of the Error that fn throws, or "(no error)".
template <typename Fn>
std::string error_of(Fn&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace rkt::tpm::test
