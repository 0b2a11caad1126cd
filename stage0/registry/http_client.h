// HTTP on libcurl for the registry client: one easy handle per HttpClient (one per thread),
// redirects followed here rather than by curl so that credentials never cross to another origin,
// bodies either buffered under a limit or streamed to a sink.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rkt::registry {

// What the user allowed with --insecure-options.
struct TransportPolicy {
    bool allow_http = false;  // plain http:// to registries, realms and redirect targets
    bool verify_tls = true;   // false: accept any certificate
    int max_redirects = 5;
};

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    // Sent to the first origin only; dropped when a redirect leaves it.
    std::vector<std::string> auth_headers;
    std::vector<std::string> headers;  // sent on every hop
    std::string body;                  // for PUT/POST
};

struct HttpResponse {
    long status = 0;
    std::string url;                                  // after redirects
    std::multimap<std::string, std::string> headers;  // names lower-cased
    std::string body;  // buffered body (error bodies too, cut at the limit)

    // The last value of a header, or "".
    std::string header(std::string_view name) const;
    std::vector<std::string> header_values(std::string_view name) const;
};

// A transfer error (no HTTP response at all, or a body cut short), as opposed to an HTTP status.
class TransferError : public std::runtime_error {
public:
    TransferError(const std::string& message, bool retryable)
        : std::runtime_error(message), retryable_(retryable) {}
    bool retryable() const { return retryable_; }

private:
    bool retryable_;
};

// One response header line ("Name: value\r\n") as (lower-cased name, trimmed value); nullopt
// for a line without a colon.
std::optional<std::pair<std::string, std::string>> parse_header_line(std::string_view line);

// "scheme://host:port" of a URL, lower-cased, with the default port made explicit.
std::string url_origin(const std::string& url);
// Resolves `location` (absolute or relative) against `base`.
std::string resolve_url(const std::string& base, const std::string& location);
// Percent-encodes a query value.
std::string url_escape(std::string_view s);

class HttpClient {
public:
    explicit HttpClient(TransportPolicy policy);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Performs the request, following redirects. A 2xx body goes to `sink` when given (which may
    // throw to abort), else it is buffered; any body longer than `limit` is an error. Throws
    // TransferError for network failures and rkt::Error for policy violations.
    // `start` sees the status and headers of a 2xx response before its first byte reaches `sink`.
    using Sink = std::function<void(const char* data, size_t size)>;
    using Start = std::function<void(const HttpResponse& head)>;
    HttpResponse perform(const HttpRequest& req, size_t limit, const Sink& sink = nullptr,
                         const Start& start = nullptr);

    const TransportPolicy& policy() const { return policy_; }

private:
    HttpResponse perform_once(const HttpRequest& req, const std::string& url, bool send_auth,
                              size_t limit, const Sink& sink, const Start& start);

    struct Handle;
    TransportPolicy policy_;
    std::unique_ptr<Handle> handle_;
};

// curl_global_init, once per process, before any thread starts a transfer.
void init_http();

}  // namespace rkt::registry
