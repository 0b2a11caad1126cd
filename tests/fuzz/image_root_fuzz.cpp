// Fuzz target for what an image's root file system can do to the runtime that reads it: path
// resolution inside the root (common/isolation_rootfs.cpp: symlinks absolute and relative, "..",
// loops, creation of missing parts) and the user and group lookup in the image's own /etc/passwd
// and /etc/group (common/isolation_identity.cpp). A directory next to the root must stay empty
// and every object resolved must lie inside the root, whatever the image holds.
//
// Input: lines, each one operation (at most 24):
//   d PATH            make a directory in the image        f PATH TEXT   a file ("\n" is a newline)
//   l PATH TARGET     a symlink (TARGET is anything)       u USER [GROUP] resolve_identity
//   r PATH            resolve PATH every way the runtime does (look up, create dirs or a file,
//                     open, read, exists)
// The image is built without following its own symlinks, so only the code under test walks them.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "common/isolation.h"
#include "common/isolation_rootfs.h"
#include "common/strings.h"

namespace {

namespace stdfs = std::filesystem;

constexpr size_t kMaxOperations = 24;

void remove_scratch();

// <scratch>/root is the image; <scratch>/outside must stay empty.
const stdfs::path& scratch() {
    static const stdfs::path dir = [] {
        std::string tmpl = (stdfs::temp_directory_path() / "rkt-image-root-fuzz-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) std::abort();
        stdfs::create_directories(stdfs::path(tmpl) / "outside");
        return stdfs::path(tmpl);
    }();
    static const bool registered = (std::atexit(remove_scratch), true);
    (void)registered;
    return dir;
}

void remove_scratch() {
    std::error_code ec;
    stdfs::remove_all(scratch(), ec);
}

// The image's components of PATH, or nothing when it has "..": the builder stays in the image.
std::vector<std::string> components(std::string_view path) {
    std::vector<std::string> out;
    for (auto& c : rkt::strings::split(path, '/')) {
        if (c.empty() || c == ".") continue;
        // A NUL would end the name where the kernel reads it: "..\0" is "..", out of the root.
        if (c == ".." || c.size() > 255 || c.find('\0') != std::string::npos) return {};
        out.push_back(c);
    }
    return out;
}

// The directory that holds PATH's last component, walking existing directories with
// O_NOFOLLOW (a symlink on the way ends the walk), creating missing ones.
rkt::UniqueFd parent_of(int root, const std::vector<std::string>& parts) {
    rkt::UniqueFd dir(::fcntl(root, F_DUPFD_CLOEXEC, 3));
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
        ::mkdirat(dir.get(), parts[i].c_str(), 0755);
        rkt::UniqueFd next(
            ::openat(dir.get(), parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next) return {};
        dir = std::move(next);
    }
    return dir;
}

std::string unescape(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
            out += '\n';
            ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

// Builds one entry of the image; bad entries are skipped.
void build(int root, char kind, std::string_view path, std::string_view arg) {
    std::vector<std::string> parts = components(path);
    if (parts.empty()) return;
    rkt::UniqueFd dir = parent_of(root, parts);
    if (!dir) return;
    const char* name = parts.back().c_str();
    if (kind == 'd') {
        ::mkdirat(dir.get(), name, 0755);
    } else if (kind == 'l') {
        ::symlinkat(std::string(arg).c_str(), dir.get(), name);
    } else if (kind == 'f') {
        int fd =
            ::openat(dir.get(), name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) return;
        std::string text = unescape(arg);
        (void)!::write(fd, text.data(), text.size());
        ::close(fd);
    }
}

// Where an fd really is, by the kernel's account.
std::string real_path(int fd) {
    std::error_code ec;
    return stdfs::read_symlink("/proc/self/fd/" + std::to_string(fd), ec).string();
}

void check_inside(const std::string& root_path, int fd) {
    if (fd < 0) return;
    std::string p = real_path(fd);
    if (p != root_path && !p.starts_with(root_path + "/")) std::abort();
}

template <typename Fn>
void refused_ok(Fn fn) {
    try {
        fn();
    } catch (const rkt::Error&) {
        // Refusing a hostile image is the expected outcome for much of it.
    }
}

void resolve_every_way(int root, const std::string& root_path, const std::string& path) {
    using rkt::rootfs::Create;
    for (Create create : {Create::kNothing, Create::kDirectory, Create::kFile}) {
        for (bool follow_last : {true, false}) {
            refused_ok([&] {
                rkt::rootfs::Resolved r =
                    rkt::rootfs::resolve(root, path, create, 0755, follow_last);
                check_inside(root_path, r.parent.get());
                check_inside(root_path, r.fd.get());
                if (r.name.find('/') != std::string::npos) std::abort();
            });
        }
    }
    refused_ok([&] {
        rkt::UniqueFd fd = rkt::rootfs::open(root, path, O_RDONLY | O_NONBLOCK);
        check_inside(root_path, fd.get());
    });
    refused_ok([&] { (void)rkt::rootfs::read_file(root, path, 1 << 16); });
    refused_ok([&] { (void)rkt::rootfs::exists(root, path); });
}

void identity(int root, std::string_view args) {
    rkt::AppSpec app;
    auto space = args.find(' ');
    app.user = std::string(args.substr(0, space));
    app.group = space == std::string_view::npos ? "" : std::string(args.substr(space + 1));
    app.supplementary_gids = {5, 4294967294u};
    refused_ok([&] {
        rkt::isolation::Identity id = rkt::isolation::resolve_identity(app, root);
        // (uid_t)-1 would mean "leave unchanged" to setresuid: never an app's id.
        if (id.uid == static_cast<uid_t>(-1) || id.gid == static_cast<gid_t>(-1)) std::abort();
        for (gid_t g : id.supplementary_gids)
            if (g == static_cast<gid_t>(-1)) std::abort();
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const stdfs::path root_path = scratch() / "root";
    std::error_code ec;
    stdfs::remove_all(root_path, ec);
    stdfs::create_directory(root_path);
    rkt::UniqueFd root = rkt::fs::open_dir(root_path);
    const std::string root_real = real_path(root.get());

    std::string_view input(reinterpret_cast<const char*>(data), size);
    size_t ops = 0;
    for (const auto& line : rkt::strings::split(input, '\n')) {
        if (++ops > kMaxOperations) break;
        if (line.size() < 2 || line[1] != ' ') continue;
        std::string_view rest = std::string_view(line).substr(2);
        auto space = rest.find(' ');
        std::string_view first = rest.substr(0, space);
        std::string_view second =
            space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
        switch (line[0]) {
            case 'd':
            case 'f':
            case 'l':
                build(root.get(), line[0], first, second);
                break;
            case 'u':
                identity(root.get(), rest);
                break;
            case 'r':
                resolve_every_way(root.get(), root_real, std::string(rest));
                break;
            default:
                break;
        }
    }
    if (!stdfs::is_empty(scratch() / "outside")) std::abort();  // something left the root
    return 0;
}
