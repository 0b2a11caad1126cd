#include "stage0/registry/fetcher.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"
#include "stage0/registry/progress.h"
#include "stage0/registry/registry_client.h"
#include "stage0/registry/signatures.h"
#include "stage0/trust/keystore.h"
#include "stage0/trust/verifier.h"

namespace rkt::registry {

namespace {

constexpr int kMaxIndexDepth = 4;

struct Resolved {
    FetchedManifest manifest;  // the image manifest for this platform
    Manifest parsed;
    std::vector<std::string> chain;  // digests from the reference down to the manifest
};

ClientOptions client_options(const ImageReference& ref, const FetchOptions& o, bool push) {
    ClientOptions c;
    c.transport.allow_http = o.insecure_http;
    c.transport.verify_tls = !o.insecure_tls;
    c.push = push;
    std::vector<std::filesystem::path> dirs = {o.system_config, o.local_config};
    if (!o.user_config.empty()) dirs.push_back(o.user_config);
    auto creds = CredentialStore::load(dirs);
    c.credentials = creds.find(ref.registry);
    if (!c.credentials && ref.api_host() != ref.registry)
        c.credentials = creds.find(ref.api_host());
    return c;
}

std::string list_platforms(const Manifest& index) {
    std::vector<std::string> names;
    for (const auto& d : index.manifests)
        if (d.platform) names.push_back(platform_string(*d.platform));
    return names.empty() ? "none named" : strings::join(names, ", ");
}

Resolved resolve(RegistryClient& client) {
    const ImageReference& ref = client.reference();
    Resolved r;
    r.manifest = client.get_manifest(client.http(), ref.reference());
    r.chain.push_back(r.manifest.digest);
    r.parsed = with_context("manifest of " + ref.to_string(), [&] {
        return parse_manifest(r.manifest.bytes, r.manifest.content_type);
    });
    std::set<std::string> seen = {r.manifest.digest};
    Platform want = host_platform();
    for (int depth = 1; r.parsed.is_index; ++depth) {
        if (depth > kMaxIndexDepth)
            throw Error("image " + ref.to_string() + ": indexes nested deeper than " +
                        std::to_string(kMaxIndexDepth) + " levels");
        auto chosen = select_platform(r.parsed, want);
        if (!chosen)
            throw Error("image " + ref.to_string() + " has no manifest for " +
                        platform_string(want) + " (it has: " + list_platforms(r.parsed) + ")");
        if (!seen.insert(chosen->digest).second)
            throw Error("image " + ref.to_string() + ": the index refers back to " +
                        chosen->digest + " (a loop)");
        r.manifest = client.get_manifest(client.http(), chosen->digest);
        if (r.manifest.bytes.size() != chosen->size)
            throw Error("manifest " + chosen->digest + " is " +
                        std::to_string(r.manifest.bytes.size()) + " bytes, the index says " +
                        std::to_string(chosen->size));
        r.chain.push_back(r.manifest.digest);
        r.parsed = with_context("manifest " + chosen->digest, [&] {
            return parse_manifest(r.manifest.bytes, r.manifest.content_type);
        });
    }
    return r;
}

void check_signature(RegistryClient& client, const Resolved& r, const FetchOptions& o) {
    const ImageReference& ref = client.reference();
    if (o.insecure_image) {
        log::warn("signature of " + ref.to_string() + " not checked (--insecure-options=image)");
        return;
    }
    trust::Keystore keystore(o.system_config, o.local_config);
    auto keys = keystore.keys_for(ref.name());
    std::vector<trust::Signature> sigs;
    for (const auto& digest : r.chain) {
        auto found = with_context("signatures of " + ref.name(),
                                  [&] { return fetch_signatures(client, client.http(), digest); });
        sigs.insert(sigs.end(), found.begin(), found.end());
    }
    if (sigs.empty())
        throw Error("image " + ref.to_string() + " is not signed (no signature at tag " +
                    signature_tag(r.chain.front()) +
                    "); to fetch it anyway, pass --insecure-options=image");
    auto v = trust::verify_signatures({ref.name(), r.chain}, sigs, keys);
    log::debug("signature verified: key " + v.fingerprint + " (" + v.scope + ")");
}

struct Job {
    Descriptor descriptor;
    std::string label;
    std::unique_ptr<store::BlobWriter> writer;
    size_t bar = 0;
};

// Downloads the jobs on up to `parallel` threads; the first failure cancels the rest.
void download_all(RegistryClient& client, std::vector<Job>& jobs, size_t parallel,
                  Progress& progress) {
    std::atomic<size_t> next{0};
    std::atomic<bool> cancel{false};
    std::mutex error_mu;
    std::string first_error;
    auto worker = [&] {
        std::unique_ptr<HttpClient> http;
        while (!cancel.load()) {
            size_t i = next.fetch_add(1);
            if (i >= jobs.size()) return;
            Job& job = jobs[i];
            try {
                if (!http) http = std::make_unique<HttpClient>(client.options().transport);
                client.get_blob(
                    *http, job.descriptor, *job.writer,
                    [&](uint64_t held) { progress.update(job.bar, held); }, &cancel);
                job.writer->commit();
                progress.finish(job.bar);
            } catch (const std::exception& e) {
                std::lock_guard lock(error_mu);
                if (first_error.empty() && !cancel.load())
                    first_error = job.label + ": " + e.what();
                cancel.store(true);
            }
        }
    };
    size_t n = std::min(parallel == 0 ? size_t{1} : parallel, jobs.size());
    {
        std::vector<std::jthread> threads;
        for (size_t i = 0; i < n; ++i) threads.emplace_back(worker);
    }
    if (!first_error.empty()) throw Error(first_error);
}

void store_bytes(store::ImageStore& store, const std::string& digest, const std::string& bytes) {
    if (store.has_blob(digest)) return;
    auto w = store.begin_blob(digest, bytes.size());
    if (w->already_present()) return;
    w->restart();
    w->write(bytes.data(), bytes.size());
    w->commit();
}

}  // namespace

std::string store_tag_for(const ImageReference& ref) {
    if (ref.digest.empty()) return ref.tag;
    std::string t = ref.digest;
    t[t.find(':')] = '-';
    return t;
}

store::ImageInfo fetch_image(store::ImageStore& store, const ImageReference& ref,
                             const FetchOptions& options) {
    auto started = std::chrono::steady_clock::now();
    RegistryClient client(ref, client_options(ref, options, false));
    client.ping(client.http());
    Resolved r = resolve(client);
    check_signature(client, r, options);

    // The blobs the store lacks, each once.
    std::vector<Job> jobs;
    std::set<std::string> planned;
    Progress progress(options.show_progress);
    auto plan = [&](const Descriptor& d, const std::string& label) {
        if (!planned.insert(d.digest).second || store.has_blob(d.digest)) return;
        auto writer = store.begin_blob(d.digest, d.size);
        if (writer->already_present()) return;  // another process finished it meanwhile
        size_t bar =
            progress.add(label + " " + d.digest.substr(7, 12), d.size, writer->resume_offset());
        jobs.push_back(Job{d, label, std::move(writer), bar});
    };
    plan(r.parsed.config, "config");
    for (size_t i = 0; i < r.parsed.layers.size(); ++i)
        plan(r.parsed.layers[i],
             "layer " + std::to_string(i + 1) + "/" + std::to_string(r.parsed.layers.size()));
    with_context("cannot fetch " + ref.to_string(),
                 [&] { download_all(client, jobs, options.parallel_downloads, progress); });
    progress.close();
    // The manifest last: a store holding it holds everything it names.
    store_bytes(store, r.manifest.digest, r.manifest.bytes);
    store::ImageInfo info = with_context("cannot register " + ref.to_string(), [&] {
        // A digest reference names an image only when it has no name yet; it never takes the
        // name from a tag.
        bool keep_names = !ref.digest.empty() &&
                          store.resolve("sha256-" + r.manifest.digest.substr(7)).has_value();
        if (keep_names) return store.register_image(r.manifest.digest, "", "");
        return store.register_image(r.manifest.digest, ref.name(), store_tag_for(ref));
    });

    auto elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    uint64_t bytes = progress.bytes_transferred();
    char rate[64];
    std::snprintf(rate, sizeof rate, "%.1fs", elapsed);
    std::string summary =
        ref.to_string() + ": " + std::to_string(jobs.size()) + " of " +
        std::to_string(r.parsed.layers.size() + 1) + " blobs downloaded (" +
        strings::human_size(bytes) + ") in " + rate +
        (options.insecure_image ? ", signature not checked" : ", signature verified");
    log::info(summary);
    return info;
}

std::string sign_image(const ImageReference& ref, const std::string& key_pem,
                       const FetchOptions& options) {
    trust::PrivateKey key = trust::PrivateKey::from_pem(key_pem);
    RegistryClient client(ref, client_options(ref, options, true));
    client.ping(client.http());
    FetchedManifest top = client.get_manifest(client.http(), ref.reference());
    std::string identity = ref.to_string();
    trust::Signature sig;
    sig.payload = trust::make_payload(identity, top.digest);
    sig.signature = key.sign(sig.payload);
    push_signature(client, client.http(), top.digest, sig);
    return top.digest;
}

}  // namespace rkt::registry
