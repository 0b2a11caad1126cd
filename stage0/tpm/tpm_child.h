// The TPM behind a deadline. tss2's TCTIs wait forever for a TPM that does not answer, so rkt
// never talks to one in its own process: TpmChild forks a child that opens the TpmDevice and
// answers one request at a time over a socket pair (a JSON line each way, bytes as hex). A call
// that gets no answer within the deadline kills the child and throws. Fork it while the process
// has one thread (stage0 does, before it starts any): the child runs ordinary library code.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/unique_fd.h"
#include "stage0/tpm/tpm_device.h"

namespace rkt::tpm {

class TpmChild {
public:
    // Forks the child and waits (up to `deadline`) until it has opened the TPM at `tcti`; its
    // errors come back as Error with the child's message. `deadline` holds for every call.
    TpmChild(const std::string& tcti, std::chrono::milliseconds deadline);
    // Closes the channel and waits (some 2 s at most, then SIGKILL) for the child, so that it
    // flushes its transient handles; it leaves no zombie.
    ~TpmChild();
    TpmChild(const TpmChild&) = delete;
    TpmChild& operator=(const TpmChild&) = delete;

    // As TpmDevice's.
    std::vector<std::string> banks(unsigned pcr);
    std::vector<BankValue> read(unsigned pcr);
    void extend(unsigned pcr, const std::vector<BankValue>& digests);
    std::string identity();
    BootCounters boot_counters();
    std::string attestation_key(const std::filesystem::path& key_dir);
    QuoteFiles quote(const std::filesystem::path& key_dir, unsigned pcr, const std::string& alg,
                     const std::vector<uint8_t>& nonce);

    // The child's pid, or -1 once it has been reaped (after a timeout or a broken answer).
    pid_t pid() const { return pid_; }

private:
    // Sends one request, returns the "ok" member of the answer (or throws the child's error).
    nlohmann::json call(const nlohmann::json& request);
    std::string read_line();
    // Kills and reaps the child, which is of no more use, and throws `why`.
    [[noreturn]] void abandon(const std::string& why);
    // Closes the channel, gives the child `grace` to end, kills it if it has not, and reaps it:
    // the wait status, or -1 if there was no child.
    int reap(std::chrono::milliseconds grace) noexcept;

    std::string tcti_;
    std::chrono::milliseconds deadline_;
    pid_t pid_ = -1;
    UniqueFd pidfd_;
    UniqueFd channel_;
    std::string pending_;  // bytes read beyond the last answer line
    std::string broken_;   // why the child is gone, once it is
};

}  // namespace rkt::tpm
