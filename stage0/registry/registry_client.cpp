#include "stage0/registry/registry_client.h"

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"

namespace rkt::registry {

namespace {

constexpr size_t kErrorBodyLimit = 64 << 10;
constexpr int kBlobAttempts = 4;

bool is_transient_status(long s) {
    return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

}  // namespace

std::string one_line(std::string_view s, size_t max) {
    std::string out;
    for (char c : s) {
        if (out.size() >= max) {
            out += "...";
            break;
        }
        unsigned char u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? ' ' : c;
    }
    return strings::trim(out);
}

std::string registry_error_text(std::string_view body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return "";
    auto errs = j.find("errors");
    if (errs == j.end() || !errs->is_array() || errs->empty() || !(*errs)[0].is_object()) return "";
    // A hostile or broken registry may put anything in these fields; only strings are shown.
    const auto& e = (*errs)[0];
    auto text = [&](const char* key) {
        auto it = e.find(key);
        return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    std::string code = text("code");
    std::string msg = text("message");
    if (code.empty() || msg.empty()) return one_line(code + msg);
    return one_line(code + ": " + msg);
}

RegistryClient::RegistryClient(ImageReference ref, ClientOptions options)
    : ref_(std::move(ref)), options_(std::move(options)), http_(options_.transport) {}

std::string RegistryClient::base_url() const {
    std::lock_guard lock(mu_);
    return (scheme_.empty() ? std::string("https") : scheme_) + "://" + ref_.api_host();
}

std::string RegistryClient::repo_url(const std::string& suffix) const {
    return base_url() + "/v2/" + ref_.repository + "/" + suffix;
}

void RegistryClient::fail(const HttpResponse& resp, const std::string& what) const {
    std::string detail = registry_error_text(resp.body);
    std::string msg = what + ": HTTP " + std::to_string(resp.status);
    if (!detail.empty()) msg += " (" + detail + ")";
    if (resp.status == 401 || resp.status == 403) {
        msg += options_.credentials
                   ? "; the registry refused the credentials configured for " + ref_.registry
                   : "; the registry needs credentials for " + ref_.registry +
                         " (add them in <local-config>/auth.d/*.json, see docs/registry.md)";
    }
    throw Error(msg);
}

void RegistryClient::learn_challenge(const HttpResponse& resp) {
    std::optional<Challenge> chosen;
    for (const auto& value : resp.header_values("www-authenticate")) {
        for (auto& c : parse_challenges(value)) {
            // Bearer is preferred over Basic.
            if (c.scheme == "bearer" || (c.scheme == "basic" && !chosen)) chosen = c;
        }
    }
    if (!chosen)
        throw Error("registry " + ref_.registry +
                    " answered 401 without a Bearer or Basic WWW-Authenticate challenge");
    std::lock_guard lock(mu_);
    challenge_ = std::move(chosen);
}

void RegistryClient::ping(HttpClient& http) {
    std::vector<std::string> schemes = {"https"};
    if (options_.transport.allow_http) schemes.emplace_back("http");
    for (size_t i = 0; i < schemes.size(); ++i) {
        {
            std::lock_guard lock(mu_);
            scheme_ = schemes[i];
        }
        HttpRequest req;
        req.url = base_url() + "/v2/";
        HttpResponse resp;
        try {
            resp = http.perform(req, kErrorBodyLimit);
        } catch (const TransferError& e) {
            if (i + 1 < schemes.size()) {
                log::debug(std::string("https failed, trying http: ") + e.what());
                continue;
            }
            throw Error(std::string("cannot reach registry ") + ref_.registry + ": " + e.what());
        }
        if (resp.status == 401) {
            learn_challenge(resp);
            return;
        }
        if (resp.status >= 200 && resp.status < 300) return;
        if (resp.status == 404)
            throw Error(ref_.registry + " is not a registry v2 (GET /v2/ returned 404)");
        fail(resp, "registry " + ref_.registry + " /v2/");
    }
}

void RegistryClient::fetch_token(HttpClient& http, const Challenge& challenge) {
    std::string realm = challenge.param("realm");
    if (realm.empty())
        throw Error("registry " + ref_.registry + " sent a Bearer challenge without a realm");
    std::string scope = "repository:" + ref_.repository + (options_.push ? ":pull,push" : ":pull");
    std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
    if (!challenge.param("service").empty())
        url += "service=" + url_escape(challenge.param("service")) + "&";
    url += "scope=" + url_escape(scope);
    HttpRequest req;
    req.url = url;
    if (options_.credentials)
        req.auth_headers.push_back("Authorization: " + basic_authorization(*options_.credentials));
    HttpResponse resp;
    try {
        resp = http.perform(req, 1 << 20);
    } catch (const TransferError& e) {
        throw Error(std::string("cannot reach the token server of ") + ref_.registry + ": " +
                    e.what());
    }
    if (resp.status != 200) fail(resp, "token server " + one_line(realm, 100));
    std::string token = with_context("token server " + one_line(realm, 100),
                                     [&] { return parse_token_response(resp.body); });
    std::lock_guard lock(mu_);
    token_ = std::move(token);
}

std::vector<std::string> RegistryClient::auth_headers(HttpClient& http) {
    std::optional<Challenge> challenge;
    std::string token;
    {
        std::lock_guard lock(mu_);
        challenge = challenge_;
        token = token_;
    }
    if (!challenge) return {};
    if (challenge->scheme == "basic") {
        if (!options_.credentials) return {};
        return {"Authorization: " + basic_authorization(*options_.credentials)};
    }
    if (token.empty()) {
        fetch_token(http, *challenge);
        std::lock_guard lock(mu_);
        token = token_;
    }
    return {"Authorization: Bearer " + token};
}

HttpResponse RegistryClient::send(HttpClient& http, HttpRequest req, size_t limit,
                                  const HttpClient::Sink& sink, const HttpClient::Start& start) {
    for (int attempt = 0;; ++attempt) {
        req.auth_headers = auth_headers(http);
        HttpResponse resp = http.perform(req, limit, sink, start);
        if (resp.status != 401 || attempt > 0) return resp;
        // The token expired or lacks the scope: learn the new challenge and retry once.
        learn_challenge(resp);
        std::lock_guard lock(mu_);
        token_.clear();
    }
}

std::optional<FetchedManifest> RegistryClient::find_manifest(HttpClient& http,
                                                             const std::string& reference) {
    HttpRequest req;
    req.url = repo_url("manifests/" + reference);
    req.headers.push_back("Accept: " + manifest_accept_header());
    const std::string what =
        "manifest " + ref_.name() + (reference.rfind("sha256:", 0) == 0 ? "@" : ":") + reference;
    HttpResponse resp;
    try {
        resp = send(http, req, options_.max_manifest_bytes);
    } catch (const TransferError& e) {
        throw Error("cannot fetch " + what + ": " + e.what());
    } catch (const Error& e) {
        throw e.with_context("cannot fetch " + what);
    }
    if (resp.status == 404) return std::nullopt;
    if (resp.status != 200) fail(resp, "cannot fetch " + what);
    FetchedManifest m;
    m.bytes = std::move(resp.body);
    m.content_type = resp.header("content-type");
    m.digest = sha256_digest(m.bytes);
    if (reference.rfind("sha256:", 0) == 0 && m.digest != reference)
        throw Error(what + ": the registry sent content that hashes to " + m.digest);
    std::string claimed = resp.header("docker-content-digest");
    if (claimed.rfind("sha256:", 0) == 0 && claimed != m.digest)
        throw Error(what + ": the registry says its digest is " + one_line(claimed, 80) +
                    " but the content hashes to " + m.digest);
    return m;
}

FetchedManifest RegistryClient::get_manifest(HttpClient& http, const std::string& reference) {
    auto m = find_manifest(http, reference);
    if (!m)
        throw Error("image " + ref_.name() + (reference.rfind("sha256:", 0) == 0 ? "@" : ":") +
                    reference + " not found in the registry (manifest unknown)");
    return std::move(*m);
}

void RegistryClient::download_attempt(HttpClient& http, const Descriptor& d,
                                      store::BlobWriter& writer,
                                      const std::function<void(uint64_t)>& progress,
                                      const std::atomic<bool>* cancel) {
    uint64_t offset = writer.resume_offset();
    if (offset == d.size && d.size > 0) return;  // complete from an earlier run; commit checks it
    HttpRequest req;
    req.url = repo_url("blobs/" + d.digest);
    if (offset > 0) req.headers.push_back("Range: bytes=" + std::to_string(offset) + "-");
    auto start = [&](const HttpResponse& head) {
        if (offset == 0) return;
        // A 200 to a range request means the server sends the whole blob again; so does a 206
        // that starts elsewhere than asked.
        std::string range = head.header("content-range");
        std::string want = "bytes " + std::to_string(offset) + "-";
        if (head.status != 206 || range.rfind(want, 0) != 0) {
            if (head.status == 206)
                throw TransferError("the registry answered an unexpected range", true);
            log::debug("blob " + d.digest + ": the server does not resume; starting over");
            writer.restart();
            if (progress) progress(0);
        }
    };
    auto sink = [&](const char* data, size_t size) {
        if (cancel && cancel->load()) throw Error("cancelled");
        writer.write(data, size);
        if (progress) progress(writer.resume_offset());
    };
    HttpResponse resp = send(http, req, kErrorBodyLimit, sink, start);
    if (resp.status == 416 && offset > 0) {
        writer.restart();
        throw TransferError("the registry cannot resume at byte " + std::to_string(offset), true);
    }
    if (resp.status != 200 && resp.status != 206) {
        if (is_transient_status(resp.status))
            throw TransferError("HTTP " + std::to_string(resp.status), true);
        fail(resp, "cannot fetch blob " + d.digest);
    }
}

void RegistryClient::get_blob(HttpClient& http, const Descriptor& d, store::BlobWriter& writer,
                              const std::function<void(uint64_t)>& progress,
                              const std::atomic<bool>* cancel) {
    std::string last_error;
    for (int attempt = 1; attempt <= kBlobAttempts; ++attempt) {
        if (cancel && cancel->load()) throw Error("cancelled");
        try {
            download_attempt(http, d, writer, progress, cancel);
            return;
        } catch (const TransferError& e) {
            last_error = e.what();
            if (!e.retryable()) break;
            log::debug("blob " + d.digest + ": " + last_error + "; retrying");
            std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
        }
    }
    throw Error("cannot fetch blob " + d.digest + ": " + last_error);
}

std::string RegistryClient::get_blob_bytes(HttpClient& http, const Descriptor& d, size_t limit) {
    if (d.size > limit)
        throw Error("blob " + d.digest + " is " + std::to_string(d.size) +
                    " bytes, more than the " + std::to_string(limit) + " allowed");
    HttpRequest req;
    req.url = repo_url("blobs/" + d.digest);
    HttpResponse resp;
    try {
        resp = send(http, req, limit);
    } catch (const TransferError& e) {
        throw Error("cannot fetch blob " + d.digest + ": " + e.what());
    }
    if (resp.status != 200) fail(resp, "cannot fetch blob " + d.digest);
    if (resp.body.size() != d.size || sha256_digest(resp.body) != d.digest)
        throw Error("blob " + d.digest +
                    ": the registry sent content that does not match its digest");
    return std::move(resp.body);
}

void RegistryClient::put_blob(HttpClient& http, const std::string& digest,
                              const std::string& data) {
    HttpRequest head;
    head.method = "HEAD";
    head.url = repo_url("blobs/" + digest);
    if (send(http, head, kErrorBodyLimit).status == 200) return;
    HttpRequest post;
    post.method = "POST";
    post.url = repo_url("blobs/uploads/");
    HttpResponse started = send(http, post, kErrorBodyLimit);
    if (started.status != 202) fail(started, "cannot start a blob upload");
    std::string location = started.header("location");
    if (location.empty()) throw Error("the registry started an upload without a Location");
    HttpRequest put;
    put.method = "PUT";
    put.url = resolve_url(post.url, location);
    put.url += (put.url.find('?') == std::string::npos ? "?" : "&");
    put.url += "digest=" + url_escape(digest);
    put.headers.emplace_back("Content-Type: application/octet-stream");
    put.body = data;
    HttpResponse done = send(http, put, kErrorBodyLimit);
    if (done.status != 201) fail(done, "cannot upload blob " + digest);
}

void RegistryClient::put_manifest(HttpClient& http, const std::string& tag,
                                  const std::string& bytes, const std::string& media_type) {
    HttpRequest put;
    put.method = "PUT";
    put.url = repo_url("manifests/" + tag);
    put.headers.push_back("Content-Type: " + media_type);
    put.body = bytes;
    HttpResponse resp = send(http, put, kErrorBodyLimit);
    if (resp.status != 201 && resp.status != 200) fail(resp, "cannot push manifest " + tag);
}

}  // namespace rkt::registry
