// Build-time generator of the built-in seccomp programs (isolation_seccomp_builtin.h): compiles
// builtin_seccomp_policies() with libseccomp and writes them, with the policies they stand
// for, as a C++ source file. Usage: rkt_seccomp_bake OUTPUT.cpp
#include <seccomp.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/isolation_seccomp_builtin.h"

namespace rkt::isolation {

// The generator itself has no built-in programs.
std::span<const BuiltinSeccompProgram> builtin_seccomp_programs() {
    return {};
}

}  // namespace rkt::isolation

namespace {

using namespace rkt::isolation;

void write_names(std::ostream& out, const char* array, size_t index,
                 const std::set<std::string>& names) {
    if (names.empty()) return;
    out << "const char* const " << array << index << "[] = {\n";
    for (const auto& name : names) out << "    \"" << name << "\",\n";
    out << "};\n";
}

std::string span_of(const char* array, size_t index, size_t size) {
    if (size == 0) return "{}";
    std::ostringstream out;
    out << "{" << array << index << ", " << size << "}";
    return out.str();
}

const char* mode_name(SeccompMode mode) {
    return mode == SeccompMode::kRetain ? "SeccompMode::kRetain" : "SeccompMode::kRemove";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: rkt_seccomp_bake OUTPUT.cpp\n");
        return 2;
    }
    try {
        std::ostringstream out;
        out << "// Generated at build time by rkt_seccomp_bake (common/seccomp_bake.cpp).\n"
               "#include \"common/isolation_seccomp_builtin.h\"\n\n"
               "namespace rkt::isolation {\nnamespace {\n\n";
        auto policies = builtin_seccomp_policies();
        std::ostringstream table;
        for (size_t i = 0; i < policies.size(); ++i) {
            const SeccompPolicy& p = policies[i];
            std::vector<sock_filter> program = compile_seccomp_with_libseccomp(p);
            write_names(out, "kSyscalls", i, p.syscalls);
            write_names(out, "kFiltered", i, p.argument_filtered);
            out << "const sock_filter kProgram" << i << "[] = {\n";
            for (const auto& insn : program)
                out << "    {" << insn.code << ", " << unsigned(insn.jt) << ", "
                    << unsigned(insn.jf) << ", " << insn.k << "u},\n";
            out << "};\n\n";
            table << "    {" << seccomp_arch_native() << "u, " << mode_name(p.mode) << ", "
                  << (p.all ? "true" : "false") << ", " << p.errno_code << ", "
                  << span_of("kSyscalls", i, p.syscalls.size()) << ", "
                  << span_of("kFiltered", i, p.argument_filtered.size()) << ", "
                  << span_of("kProgram", i, program.size()) << "},\n";
        }
        out << "const BuiltinSeccompProgram kPrograms[] = {\n"
            << table.str() << "};\n\n}  // namespace\n\n"
            << "std::span<const BuiltinSeccompProgram> builtin_seccomp_programs() {\n"
               "    return kPrograms;\n}\n\n}  // namespace rkt::isolation\n";
        std::ofstream file(argv[1], std::ios::trunc);
        file << out.str();
        if (!file.flush()) {
            std::fprintf(stderr, "rkt_seccomp_bake: cannot write %s\n", argv[1]);
            return 1;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rkt_seccomp_bake: %s\n", e.what());
        return 1;
    }
    return 0;
}
