// A registry v2 client for one repository: the /v2/ ping that learns how to authenticate,
// Bearer tokens from the realm the registry names (anonymous or with Basic credentials), Basic
// auth, manifests fetched with a full Accept list and checked against their digest, blobs
// streamed into the store with Range resume and retries, and the few pushes signing needs.
//
// Thread safety: the auth state is shared behind a mutex; every call takes the HttpClient of the
// calling thread (one libcurl handle per thread).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "stage0/registry/auth.h"
#include "stage0/registry/http_client.h"
#include "stage0/registry/manifest.h"
#include "stage0/registry/reference.h"
#include "stage0/store/image_store.h"

namespace rkt::registry {

struct ClientOptions {
    TransportPolicy transport;
    std::optional<Credentials> credentials;
    bool push = false;  // ask for "pull,push" scopes
    uint64_t max_manifest_bytes = 4 << 20;
};

struct FetchedManifest {
    std::string bytes;
    std::string content_type;
    std::string digest;  // sha256 of bytes, computed here
};

class RegistryClient {
public:
    RegistryClient(ImageReference ref, ClientOptions options);

    const ImageReference& reference() const { return ref_; }
    const ClientOptions& options() const { return options_; }
    // The client for the calling (main) thread.
    HttpClient& http() { return http_; }

    // GET /v2/: finds the scheme (https, or http when allowed) and the auth challenge.
    void ping(HttpClient& http);

    // Fetches a manifest by tag or digest; nullopt when the registry says it does not exist.
    // Checks the bytes against a requested digest and against Docker-Content-Digest.
    std::optional<FetchedManifest> find_manifest(HttpClient& http, const std::string& reference);
    FetchedManifest get_manifest(HttpClient& http, const std::string& reference);

    // Downloads a blob into `writer`, resuming from writer.resume_offset(); retries transient
    // failures. `progress` gets the bytes held so far as they arrive; `cancel` stops the transfer.
    void get_blob(HttpClient& http, const Descriptor& d, store::BlobWriter& writer,
                  const std::function<void(uint64_t)>& progress, const std::atomic<bool>* cancel);
    // A small blob held in memory, checked against its digest and size.
    std::string get_blob_bytes(HttpClient& http, const Descriptor& d, size_t limit);

    // Pushes (needs ClientOptions::push).
    void put_blob(HttpClient& http, const std::string& digest, const std::string& data);
    void put_manifest(HttpClient& http, const std::string& tag, const std::string& bytes,
                      const std::string& media_type);

private:
    std::string base_url() const;
    std::string repo_url(const std::string& suffix) const;
    // Sends with our credentials, refreshing a Bearer token once on 401.
    HttpResponse send(HttpClient& http, HttpRequest req, size_t limit,
                      const HttpClient::Sink& sink = nullptr,
                      const HttpClient::Start& start = nullptr);
    std::vector<std::string> auth_headers(HttpClient& http);
    void fetch_token(HttpClient& http, const Challenge& challenge);
    void learn_challenge(const HttpResponse& resp);
    void download_attempt(HttpClient& http, const Descriptor& d, store::BlobWriter& writer,
                          const std::function<void(uint64_t)>& progress,
                          const std::atomic<bool>* cancel);
    [[noreturn]] void fail(const HttpResponse& resp, const std::string& what) const;

    ImageReference ref_;
    ClientOptions options_;
    HttpClient http_;

    mutable std::mutex mu_;  // guards what follows
    std::string scheme_;     // "https" or "http", known after ping()
    std::optional<Challenge> challenge_;
    std::string token_;
};

// Strips control characters and cuts a server-provided string so that it fits in one line.
std::string one_line(std::string_view s, size_t max = 200);
// The "CODE: message" of a registry error body, or "".
std::string registry_error_text(std::string_view body);

}  // namespace rkt::registry
