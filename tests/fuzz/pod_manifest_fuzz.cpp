// Fuzz target for pod manifests: a user's `--pod-manifest` file the way `rkt prepare` takes it
// (parsed, then built into the pod's manifest with the isolator checks and the pod-wide sums the
// kvm stage1 sizes its VM by), and the pod manifest a stage1 reads back from the pod directory.
// Whatever is accepted must survive the trip through the file a stage1 reads unchanged.
//
// Input: byte 0 selects the reader (even: the user's file, odd: the pod's own), the rest is
// the JSON text.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/error.h"
#include "common/fs.h"
#include "common/pod_manifest.h"
#include "stage0/pod/pod_manifest_input.h"
#include "stage0/pod/pod_spec_builder.h"

namespace {

namespace stdfs = std::filesystem;

void remove_rootfs();

// An image root with the account databases resolve_identity reads, made once per process.
const stdfs::path& rootfs() {
    static const stdfs::path dir = [] {
        std::string tmpl = (stdfs::temp_directory_path() / "rkt-pod-manifest-fuzz-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) std::abort();
        stdfs::create_directories(stdfs::path(tmpl) / "etc");
        rkt::fs::write_file(stdfs::path(tmpl) / "etc/passwd",
                            "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/srv:/bin/sh\n");
        rkt::fs::write_file(stdfs::path(tmpl) / "etc/group", "root:x:0:\nweb:x:1000:web\n");
        return stdfs::path(tmpl);
    }();
    static const bool registered = (std::atexit(remove_rootfs), true);
    (void)registered;
    return dir;
}

void remove_rootfs() {
    std::error_code ec;
    stdfs::remove_all(rootfs(), ec);
}

rkt::PodAppImage image_for(size_t i) {
    rkt::PodAppImage img;
    img.image.id = "sha256-" + std::string(63, 'a') + static_cast<char>('0' + i % 10);
    img.image.name = "example.com/app" + std::to_string(i);
    img.image.tag = "latest";
    img.image.config.entrypoint = {"/bin/app"};
    img.image.config.cmd = {"--serve"};
    img.image.config.env = {{"PATH", "/bin"}};
    img.image.config.user = "web";
    img.rootfs = rootfs();
    return img;
}

// The pod manifest as a stage1 reads it must mean what stage0 wrote.
void check_round_trip(const rkt::PodManifest& pm) {
    std::string text = pm.serialize(false);
    rkt::PodManifest again = rkt::PodManifest::parse(text);
    if (again.serialize(false) != text) std::abort();
}

void user_manifest(const std::string& text) {
    try {
        rkt::PodManifestInput in = rkt::parse_pod_manifest_input(text);
        if (in.images.size() != in.intent.apps.size()) std::abort();
        std::vector<rkt::PodAppImage> images;
        for (size_t i = 0; i < in.intent.apps.size(); ++i) images.push_back(image_for(i));
        rkt::PodManifest pm = rkt::build_pod_manifest(in.intent, images);
        (void)rkt::total_memory_limit(pm);
        (void)rkt::total_cpu_limit(pm);
        check_round_trip(pm);
    } catch (const rkt::Error&) {
        // Refusing hostile input is the expected outcome for most of it.
    }
}

void pod_manifest(const std::string& text) {
    rkt::PodManifest pm;
    try {
        pm = rkt::PodManifest::parse(text);
    } catch (const rkt::Error&) {
        return;
    }
    check_round_trip(pm);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] % 2 == 0)
        user_manifest(text);
    else
        pod_manifest(text);
    return 0;
}
