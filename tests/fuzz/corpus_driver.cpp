// Runs a fuzz target over a checked-in corpus without libFuzzer: each argument is a file or a
// directory of files, each file one input. Used when the build is not a clang fuzzing build.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int run_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
        std::fprintf(stderr, "cannot read %s\n", p.c_str());
        return 1;
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    int inputs = 0;
    for (int i = 1; i < argc; ++i) {
        std::filesystem::path arg = argv[i];
        if (std::filesystem::is_directory(arg)) {
            for (const auto& e : std::filesystem::directory_iterator(arg)) {
                if (!e.is_regular_file()) continue;
                if (run_file(e.path()) != 0) return 1;
                ++inputs;
            }
        } else {
            if (run_file(arg) != 0) return 1;
            ++inputs;
        }
    }
    std::printf("ran %d inputs\n", inputs);
    return inputs > 0 ? 0 : 1;
}
