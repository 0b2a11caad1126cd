// Fuzz target for the image store's parsers of hostile input: the layer reader with the tree
// writer (as for image layers and as for image archives), the index / manifest / config /
// manifest.json parsers, the entry path normaliser, and the image config as the store keeps it
// (what a stage1 reads back). The first input byte selects the parser.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/fs.h"
#include "stage0/store/layer_reader.h"
#include "stage0/store/oci_image.h"
#include "stage0/store/safe_fs.h"
#include "stage0/store/tree_writer.h"

namespace {

namespace stdfs = std::filesystem;
using rkt::store::ImportLimits;

constexpr uint64_t kMaxDocument = 1 << 20;

// One scratch directory per process: <scratch>/root is unpacked into, <scratch>/outside must
// stay empty whatever the input does.
stdfs::path make_scratch() {
    std::string tmpl = (stdfs::temp_directory_path() / "rkt-store-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) abort();
    stdfs::create_directories(stdfs::path(tmpl) / "outside");
    return tmpl;
}

void remove_scratch();

const stdfs::path& scratch() {
    static const stdfs::path dir = make_scratch();
    // Registered after `dir` is built, so it runs before `dir` is destroyed.
    static const bool registered = (std::atexit(remove_scratch), true);
    (void)registered;
    return dir;
}

void remove_scratch() {
    std::error_code ec;
    stdfs::remove_all(scratch(), ec);
}

void unpack(std::string_view data, bool image_layer) {
    const stdfs::path root = scratch() / "root";
    stdfs::create_directories(root);
    // Feed the bytes through a file, as the store reads blobs.
    const stdfs::path blob = scratch() / "blob";
    rkt::fs::write_file(blob, data);
    try {
        rkt::UniqueFd in = rkt::fs::open_file(blob, O_RDONLY);
        rkt::UniqueFd root_fd = rkt::fs::open_dir(root);
        rkt::store::LayerReader reader(in.get(), "fuzz", data.size(), 64 << 20);
        rkt::store::TreeWriterOptions opts;
        opts.limits.max_entry_bytes = 1 << 20;
        opts.limits.max_layer_entries = 2000;
        opts.image_layer = image_layer;
        opts.preserve_owner = false;
        rkt::store::TreeWriter writer(root_fd.get(), opts);
        writer.apply(reader);
        reader.finish();
    } catch (const rkt::Error&) {
        // Refusing hostile input is the expected outcome for most inputs.
    }
    if (!stdfs::is_empty(scratch() / "outside")) abort();  // something escaped the root
    rkt::store::safe_fs::remove_path(root);
}

template <typename Fn>
void parse(Fn fn) {
    try {
        fn();
    } catch (const rkt::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 8) {
        case 0:
            unpack(input, true);
            break;
        case 1:
            unpack(input, false);
            break;
        case 2:
            parse([&] { rkt::store::oci::parse_index(input, kMaxDocument); });
            break;
        case 3:
            parse([&] { rkt::store::oci::parse_manifest(input, "", kMaxDocument); });
            break;
        case 4:
            parse([&] { rkt::store::oci::parse_config(input, kMaxDocument); });
            break;
        case 5:
            parse([&] { rkt::store::oci::parse_docker_save_manifest(input, kMaxDocument); });
            break;
        case 6:
            parse([&] {
                std::string p = rkt::store::safe_fs::normalize_entry_path(input, 4096);
                if (p.starts_with("/") || p.ends_with("/")) abort();
                for (size_t pos = 0; pos <= p.size();) {
                    size_t end = std::min(p.find('/', pos), p.size());
                    std::string_view comp = std::string_view(p).substr(pos, end - pos);
                    if (comp == ".." || comp == "." || (comp.empty() && !p.empty())) abort();
                    pos = end + 1;
                }
            });
            break;
        case 7:
            parse([&] {
                auto j = nlohmann::json::parse(input, nullptr, false);
                if (j.is_discarded()) return;
                rkt::store::ImageConfig c = rkt::store::ImageConfig::from_json(j);
                if (rkt::store::ImageConfig::from_json(c.to_json()).to_json() != c.to_json())
                    abort();
            });
            break;
    }
    return 0;
}
