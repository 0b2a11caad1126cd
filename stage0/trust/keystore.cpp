#include "stage0/trust/keystore.h"

#include <algorithm>
#include <map>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"

namespace rkt::trust {

namespace stdfs = std::filesystem;

namespace {

stdfs::path keys_dir(const stdfs::path& config) {
    return config / "trustedkeys";
}

bool is_fingerprint_file(const stdfs::path& p) {
    std::string stem = p.stem().string();
    if (p.extension() != ".pem" || stem.size() != 64) return false;
    return std::all_of(stem.begin(), stem.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Key files of one config dir: (scope, file name) -> path, where scope is "" for root.d.
void scan(const stdfs::path& config,
          std::map<std::pair<std::string, std::string>, stdfs::path>& out) {
    std::error_code ec;
    auto add_dir = [&](const stdfs::path& dir, const std::string& prefix) {
        std::error_code ec2;
        for (const auto& e : stdfs::directory_iterator(dir, ec2))
            if (is_fingerprint_file(e.path()))
                out[{prefix, e.path().filename().string()}] = e.path();
    };
    add_dir(keys_dir(config) / "root.d", "");
    for (const auto& e : stdfs::directory_iterator(keys_dir(config) / "prefix.d", ec)) {
        if (!e.is_directory()) continue;
        std::string prefix = unescape_prefix(e.path().filename().string());
        try {
            check_prefix(prefix);
        } catch (const Error&) {
            continue;
        }
        add_dir(e.path(), prefix);
    }
}

}  // namespace

void check_prefix(const std::string& prefix) {
    auto bad = [&](const std::string& why) {
        return Error("invalid prefix \"" + prefix + "\": " + why);
    };
    if (prefix.empty()) throw bad("it is empty (use --root to trust a key for every image)");
    if (prefix.size() > 255) throw bad("longer than 255 characters");
    if (prefix.front() == '/' || prefix.back() == '/')
        throw bad("it must not start or end with '/'");
    if (prefix.find("//") != std::string::npos) throw bad("it has an empty path component");
    for (char c : prefix) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_' || c == '/' || c == ':' || c == '[' || c == ']';
        if (!ok) throw bad(std::string("character '") + c + "' cannot appear in an image name");
    }
    for (const auto& part : {std::string("."), std::string("..")}) {
        if (prefix == part || prefix.rfind(part + "/", 0) == 0 ||
            prefix.find("/" + part + "/") != std::string::npos ||
            (prefix.size() > part.size() &&
             prefix.compare(prefix.size() - part.size() - 1, std::string::npos, "/" + part) == 0))
            throw bad("'.' and '..' are not path components of image names");
    }
}

std::string escape_prefix(const std::string& prefix) {
    std::string out = prefix;
    std::replace(out.begin(), out.end(), '/', ',');
    return out;
}

std::string unescape_prefix(const std::string& escaped) {
    std::string out = escaped;
    std::replace(out.begin(), out.end(), ',', '/');
    return out;
}

bool prefix_covers(const std::string& prefix, const std::string& name) {
    if (prefix.empty()) return true;
    if (name.size() < prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return false;
    return name.size() == prefix.size() || name[prefix.size()] == '/';
}

std::vector<TrustedKey> Keystore::list() const {
    std::map<std::pair<std::string, std::string>, stdfs::path> files;
    scan(system_, files);
    scan(local_, files);  // overrides
    std::vector<TrustedKey> out;
    for (const auto& [key, path] : files) {
        auto text = fs::read_file_if_exists(path);
        if (!text || text->empty()) continue;  // an empty file disables a shipped key
        try {
            PublicKey k = PublicKey::from_pem(*text);
            if (k.fingerprint() + ".pem" != key.second)
                throw Error("its name does not match its fingerprint " + k.fingerprint());
            out.push_back({k.fingerprint(), key.first, k.type(), path, k.pem()});
        } catch (const Error& e) {
            log::warn("ignoring trusted key " + path.string() + ": " + e.what());
        }
    }
    return out;
}

std::vector<TrustedKey> Keystore::keys_for(const std::string& image_name) const {
    std::vector<TrustedKey> out;
    for (auto& k : list())
        if (prefix_covers(k.prefix, image_name)) out.push_back(std::move(k));
    return out;
}

TrustedKey Keystore::add(std::string_view pem, const std::string& prefix) {
    if (!prefix.empty()) check_prefix(prefix);
    PublicKey k = PublicKey::from_pem(pem);
    stdfs::path dir = prefix.empty() ? keys_dir(local_) / "root.d"
                                     : keys_dir(local_) / "prefix.d" / escape_prefix(prefix);
    fs::make_dirs(dir);
    stdfs::path path = dir / (k.fingerprint() + ".pem");
    fs::write_file_atomic(path, k.pem(), 0644);
    return {k.fingerprint(), prefix, k.type(), path, k.pem()};
}

std::vector<TrustedKey> Keystore::remove(const std::string& fingerprint) {
    if (fingerprint.size() < 8)
        throw Error(
            "give at least 8 hex digits of the fingerprint to remove (see rkt trust --list)");
    std::map<std::pair<std::string, std::string>, stdfs::path> files;
    scan(local_, files);
    std::vector<TrustedKey> removed;
    for (const auto& [key, path] : files) {
        if (key.second.rfind(fingerprint, 0) != 0) continue;
        std::error_code ec;
        if (!stdfs::remove(path, ec) && ec)
            throw Error("cannot remove " + path.string() + ": " + ec.message());
        removed.push_back({key.second.substr(0, 64), key.first, "", path, ""});
    }
    return removed;
}

}  // namespace rkt::trust
