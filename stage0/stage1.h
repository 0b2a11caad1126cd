// Finding a stage1 and calling its entrypoints (docs/architecture.md, "Install layout").
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rkt {

namespace stdfs = std::filesystem;

struct Stage1 {
    std::string name;  // flavor, e.g. "kvm"
    stdfs::path dir;   // directory holding stage1.json and the entrypoints
    int interface_version = 1;
    std::string image_format = "tree";  // "tree" or "erofs"
    std::string engine;                 // kvm only: "auto", "builtin" or "qemu"

    // Path of an entrypoint ("run", "stop", "enter", "gc"); throws a clear Error when this
    // stage1 does not have it or it is not built.
    stdfs::path entrypoint(const std::string& which) const;
};

struct Stage1Selection {
    std::string stage1;    // --stage1: kvm | kvm-builtin | kvm-qemu | nspawn | fly
    std::string path;      // --stage1-path
    std::string name;      // --stage1-name
    std::string from_dir;  // --stage1-from-dir
};

// Directory where this rkt's stage1s are installed (<exe dir>/../lib/rkt/stage1).
stdfs::path default_stage1_root();
// Resolves the selection flags, the configured default (<local-config>/stage1.json) and the
// built-in default ("kvm") to a stage1. At most one of the flags may be given.
Stage1 select_stage1(const Stage1Selection& sel, const stdfs::path& local_config,
                     const stdfs::path& system_config);
// Loads the stage1 recorded in a pod directory (the `stage1` symlink and its engine file).
Stage1 load_pod_stage1(const stdfs::path& pod_dir);
// Loads a stage1 directory (its stage1.json).
Stage1 load_stage1_dir(const stdfs::path& dir);

}  // namespace rkt
