// Helpers of the network unit tests: a temporary directory and fake plugins.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/fs.h"

namespace rkt::net::test {

class TempDir {
public:
    TempDir() {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "rkt-net-test-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// An executable shell script `name` in `dir`.
inline void write_script(const std::filesystem::path& dir, const std::string& name,
                         const std::string& body, mode_t mode = 0755) {
    rkt::fs::make_dirs(dir);
    rkt::fs::write_file(dir / name, "#!/bin/sh\n" + body, mode);
    ::chmod((dir / name).c_str(), mode);
}

}  // namespace rkt::net::test
