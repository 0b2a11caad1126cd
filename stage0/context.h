// What every command gets: the global flags, and the stores opened on first use.
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "common/file_lock.h"
#include "stage0/pod/pod_dir.h"
#include "stage0/store/image_store.h"
#include "stage0/tpm/measured_log.h"
#include "stage0/tpm/tpm_settings.h"

namespace rkt {

namespace stdfs = std::filesystem;

// --insecure-options, as rkt spelled them.
struct InsecureOptions {
    bool image = false;
    bool tls = false;
    bool http = false;
    bool pubkey = false;
    bool capabilities = false;
    bool paths = false;
    bool seccomp = false;

    static InsecureOptions parse(const std::string& list);
    std::vector<std::string> names() const;
};

struct GlobalOptions {
    std::string dir = "/var/lib/rkt";
    std::string local_config = "/etc/rkt";
    std::string system_config = "/usr/lib/rkt";
    std::string user_config;
    std::string insecure_options;
    // Where the stage1s look for CNI plugins, in order (--cni-plugin-dir).
    std::vector<std::string> cni_plugin_dirs = {"/usr/lib/cni"};
    bool debug = false;
    std::string tpm;       // --tpm: off, auto, required ("" = the configured default)
    std::string tpm_tcti;  // --tpm-tcti
};

class Context {
public:
    GlobalOptions global;
    int exit_code = 0;

    const InsecureOptions& insecure();
    // The stores, opened on first use. As root the data directory is checked and its modes set
    // first (stage0/data_dir.h); as another user a store it may not use is one clear error.
    store::ImageStore& images();
    pod::PodStore& pods();
    // <data-dir>/locks/prepare: shared while a pod is prepared, exclusive during image gc.
    FileLock lock_prepare(FileLock::Mode mode);
    // The TPM settings (flags over tpm.d files) and <data-dir>/tpm/.
    tpm::TpmSettings tpm_settings() const;
    tpm::TpmPaths tpm_paths();
    // Fails with rkt's message when not running as root (run, prepare, gc, rm, ...).
    static void ensure_superuser();

private:
    void open_data_dir();

    bool data_dir_open_ = false;
    std::unique_ptr<InsecureOptions> insecure_;
    std::unique_ptr<store::ImageStore> images_;
    std::unique_ptr<pod::PodStore> pods_;
};

}  // namespace rkt
