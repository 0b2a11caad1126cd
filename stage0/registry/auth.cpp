#include "stage0/registry/auth.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"
#include "stage0/trust/keys.h"

namespace rkt::registry {

namespace {

bool is_token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~/=").find(c) != std::string_view::npos;
}

class ChallengeParser {
public:
    explicit ChallengeParser(std::string_view s) : s_(s) {}

    std::vector<Challenge> parse() {
        std::vector<Challenge> out;
        skip_separators();
        while (!done()) {
            Challenge c;
            c.scheme = strings::to_lower(token());
            if (c.scheme.empty()) fail("expected an auth scheme");
            skip_spaces();
            // Params until the next "scheme " (a token followed by a space and not by '=').
            while (!done()) {
                skip_separators();
                if (done()) break;
                size_t save = pos_;
                std::string name = token();
                skip_spaces();
                if (name.empty()) fail("expected a parameter name");
                if (done() || s_[pos_] != '=') {
                    pos_ = save;  // the next challenge's scheme
                    break;
                }
                ++pos_;
                skip_spaces();
                std::string value = (!done() && s_[pos_] == '"') ? quoted() : token();
                c.params[strings::to_lower(name)] = value;
                skip_spaces();
                if (!done() && s_[pos_] != ',') fail("expected ',' after a parameter");
            }
            out.push_back(std::move(c));
            if (out.size() > 16) fail("too many challenges");
        }
        return out;
    }

private:
    bool done() const { return pos_ >= s_.size(); }
    void skip_spaces() {
        while (!done() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
    }
    void skip_separators() {
        while (!done() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == ',')) ++pos_;
    }
    std::string token() {
        size_t start = pos_;
        while (!done() && is_token_char(s_[pos_])) {
            // '=' ends a parameter name, but may end a token68 value; treat it as a name end
            // when followed by something other than '=' or the end.
            if (s_[pos_] == '=' && start != pos_) break;
            ++pos_;
        }
        return std::string(s_.substr(start, pos_ - start));
    }
    std::string quoted() {
        ++pos_;  // opening quote
        std::string out;
        while (!done() && s_[pos_] != '"') {
            if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
            out += s_[pos_++];
        }
        if (done()) fail("unterminated quoted string");
        ++pos_;
        return out;
    }
    [[noreturn]] void fail(const std::string& why) {
        throw Error("malformed WWW-Authenticate header \"" + std::string(s_.substr(0, 200)) +
                    "\": " + why);
    }

    std::string_view s_;
    size_t pos_ = 0;
};

}  // namespace

std::string Challenge::param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? "" : it->second;
}

std::vector<Challenge> parse_challenges(std::string_view header) {
    if (header.size() > 8192) throw Error("WWW-Authenticate header longer than 8 KiB");
    return ChallengeParser(header).parse();
}

std::string basic_authorization(const Credentials& c) {
    return "Basic " + trust::base64_encode(c.user + ":" + c.password);
}

CredentialStore CredentialStore::load(const std::vector<std::filesystem::path>& config_dirs) {
    CredentialStore store;
    for (const auto& dir : config_dirs) {
        for (const auto& f : fs::json_files(dir / "auth.d")) {
            with_context("bad credentials file " + f.string(), [&] {
                try {
                    auto j =
                        nlohmann::json::parse(fs::read_file_limited(f, 1 << 20), nullptr, false);
                    if (j.is_discarded() || !j.is_object()) throw Error("not a JSON object");
                    if (j.value("rktKind", "") != "dockerAuth") return;  // other kinds are not ours
                    if (j.value("rktVersion", "") != "v1") throw Error("rktVersion must be \"v1\"");
                    const auto& regs = j.at("registries");
                    const auto& cred = j.at("credentials");
                    if (!regs.is_array() || !cred.is_object())
                        throw Error(
                            "\"registries\" must be an array and \"credentials\" an object");
                    Credentials c{cred.at("user").get<std::string>(),
                                  cred.at("password").get<std::string>()};
                    for (const auto& r : regs) store.add(r.get<std::string>(), c);
                } catch (const nlohmann::json::exception& e) {
                    throw Error(std::string("missing or mistyped field: ") + e.what());
                }
            });
        }
    }
    return store;
}

std::optional<Credentials> CredentialStore::find(const std::string& registry) const {
    auto it = by_registry_.find(registry);
    if (it == by_registry_.end()) return std::nullopt;
    return it->second;
}

std::string parse_token_response(std::string_view body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error("the token server's answer is not JSON");
    for (const char* key : {"token", "access_token"}) {
        auto it = j.find(key);
        if (it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
            std::string t = it->get<std::string>();
            for (char ch : t)
                if (ch < 0x21 || ch > 0x7e) throw Error("the token holds invalid characters");
            return t;
        }
    }
    throw Error("the token server's answer has no token");
}

}  // namespace rkt::registry
