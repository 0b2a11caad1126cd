#include "stage0/context.h"

#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"
#include "stage0/data_dir.h"

namespace rkt {

InsecureOptions InsecureOptions::parse(const std::string& list) {
    InsecureOptions o;
    if (list.empty()) return o;
    for (const auto& raw : strings::split(list, ',')) {
        std::string name = strings::trim(raw);
        if (name == "none" || name == "ondisk") continue;
        if (name == "image")
            o.image = true;
        else if (name == "tls")
            o.tls = true;
        else if (name == "http")
            o.http = true;
        else if (name == "pubkey")
            o.pubkey = true;
        else if (name == "capabilities")
            o.capabilities = true;
        else if (name == "paths")
            o.paths = true;
        else if (name == "seccomp")
            o.seccomp = true;
        else if (name == "all-fetch")
            o.image = o.tls = o.http = o.pubkey = true;
        else if (name == "all-run")
            o.capabilities = o.paths = o.seccomp = true;
        else if (name == "all")
            o.image = o.tls = o.http = o.pubkey = o.capabilities = o.paths = o.seccomp = true;
        else
            throw Error("unknown --insecure-options value \"" + name +
                        "\" (known: none, image, tls, http, pubkey, capabilities, paths, seccomp, "
                        "all-fetch, all-run, all)");
    }
    return o;
}

std::vector<std::string> InsecureOptions::names() const {
    std::vector<std::string> out;
    if (image) out.emplace_back("image");
    if (tls) out.emplace_back("tls");
    if (http) out.emplace_back("http");
    if (pubkey) out.emplace_back("pubkey");
    if (capabilities) out.emplace_back("capabilities");
    if (paths) out.emplace_back("paths");
    if (seccomp) out.emplace_back("seccomp");
    return out;
}

const InsecureOptions& Context::insecure() {
    if (!insecure_)
        insecure_ =
            std::make_unique<InsecureOptions>(InsecureOptions::parse(global.insecure_options));
    return *insecure_;
}

void Context::open_data_dir() {
    if (data_dir_open_) return;
    if (::geteuid() == 0)
        global.dir = data_dir::secure(global.dir, data_dir::reader_group()).string();
    data_dir_open_ = true;
}

store::ImageStore& Context::images() {
    if (!images_) {
        open_data_dir();
        if (::geteuid() != 0) data_dir::check_store_usable(global.dir);
        images_ = store::ImageStore::open(global.dir);
    }
    return *images_;
}

pod::PodStore& Context::pods() {
    if (!pods_) {
        open_data_dir();
        if (::geteuid() != 0) data_dir::check_pods_readable(global.dir);
        pods_ = std::make_unique<pod::PodStore>(global.dir);
    }
    return *pods_;
}

FileLock Context::lock_prepare(FileLock::Mode mode) {
    open_data_dir();
    stdfs::path locks = stdfs::path(global.dir) / "locks";
    fs::make_dirs(locks);
    return FileLock::acquire(locks / "prepare", mode);
}

tpm::TpmSettings Context::tpm_settings() const {
    return tpm::load_tpm_settings(global.system_config, global.local_config, global.tpm,
                                  global.tpm_tcti);
}

tpm::TpmPaths Context::tpm_paths() {
    open_data_dir();
    return {stdfs::path(global.dir) / "tpm"};
}

void Context::ensure_superuser() {
    if (::geteuid() != 0) throw Error("cannot run as unprivileged user");
}

}  // namespace rkt
