#include "stage0/registry/http_client.h"

#include <curl/curl.h>

#include <exception>
#include <mutex>

#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"

namespace rkt::registry {

namespace {

struct CurlUrlDeleter {
    void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using CurlUrl = std::unique_ptr<CURLU, CurlUrlDeleter>;

struct CurlStringDeleter {
    void operator()(char* s) const { curl_free(s); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

CurlUrl parse_url(const std::string& url) {
    CurlUrl u(curl_url());
    if (!u) throw Error("out of memory parsing a URL");
    if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK)
        throw Error("invalid URL \"" + url + "\"");
    return u;
}

std::string url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
    char* raw = nullptr;
    if (curl_url_get(u, part, &raw, flags) != CURLUE_OK) return "";
    CurlString s(raw);
    return s.get();
}

bool is_retryable(CURLcode code) {
    switch (code) {
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
            return true;
        default:
            return false;
    }
}

// Per-transfer state that curl's callbacks fill in.
struct Transfer {
    CURL* curl = nullptr;
    HttpResponse* response = nullptr;
    size_t limit = 0;
    const HttpClient::Sink* sink = nullptr;
    const HttpClient::Start* start = nullptr;
    bool status_checked = false;
    bool to_sink = false;
    std::exception_ptr error;  // an exception thrown by the sink, rethrown after curl returns
    std::string abort_reason;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::string_view line(data, size * n);
    if (line.substr(0, 5) == "HTTP/") {
        t->response->headers.clear();  // a new response (after 100 Continue)
        return size * n;
    }
    auto header = parse_header_line(line);
    if (!header) return size * n;
    if (t->response->headers.size() > 200) {
        t->abort_reason = "more than 200 response headers";
        return 0;
    }
    t->response->headers.emplace(std::move(header->first), std::move(header->second));
    return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t len = size * n;
    if (!t->status_checked) {
        long status = 0;
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
        t->status_checked = true;
        t->to_sink = t->sink && *t->sink && status >= 200 && status < 300;
        if (t->to_sink && t->start && *t->start) {
            t->response->status = status;
            try {
                (*t->start)(*t->response);
            } catch (...) {
                t->error = std::current_exception();
                return 0;
            }
        }
    }
    if (t->to_sink) {
        try {
            (*t->sink)(data, len);
        } catch (...) {
            t->error = std::current_exception();
            return 0;
        }
        return len;
    }
    if (t->response->body.size() + len > t->limit) {
        t->abort_reason =
            "the response is larger than the " + std::to_string(t->limit) + "-byte limit";
        return 0;
    }
    t->response->body.append(data, len);
    return len;
}

}  // namespace

void init_http() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            throw Error("cannot initialise libcurl");
    });
}

std::optional<std::pair<std::string, std::string>> parse_header_line(std::string_view line) {
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    return std::make_pair(strings::to_lower(strings::trim(line.substr(0, colon))),
                          strings::trim(line.substr(colon + 1)));
}

std::string HttpResponse::header(std::string_view name) const {
    auto range = headers.equal_range(std::string(name));
    std::string value;
    for (auto it = range.first; it != range.second; ++it) value = it->second;
    return value;
}

std::vector<std::string> HttpResponse::header_values(std::string_view name) const {
    std::vector<std::string> out;
    auto range = headers.equal_range(std::string(name));
    for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
    return out;
}

std::string url_origin(const std::string& url) {
    CurlUrl u = parse_url(url);
    std::string scheme = strings::to_lower(url_part(u.get(), CURLUPART_SCHEME));
    std::string host = strings::to_lower(url_part(u.get(), CURLUPART_HOST));
    std::string port = url_part(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
    return scheme + "://" + host + ":" + port;
}

std::string resolve_url(const std::string& base, const std::string& location) {
    CurlUrl u = parse_url(base);
    if (curl_url_set(u.get(), CURLUPART_URL, location.c_str(), 0) != CURLUE_OK)
        throw Error("invalid redirect location \"" + location + "\"");
    return url_part(u.get(), CURLUPART_URL);
}

std::string url_escape(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            static const char* hex = "0123456789ABCDEF";
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

struct HttpClient::Handle {
    CURL* curl = nullptr;
    ~Handle() {
        if (curl) curl_easy_cleanup(curl);
    }
};

HttpClient::HttpClient(TransportPolicy policy)
    : policy_(policy), handle_(std::make_unique<Handle>()) {
    init_http();
    handle_->curl = curl_easy_init();
    if (!handle_->curl) throw Error("cannot create a libcurl handle");
}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::perform(const HttpRequest& req, size_t limit, const Sink& sink,
                                 const Start& start) {
    const std::string first_origin = url_origin(req.url);
    std::string url = req.url;
    for (int hop = 0;; ++hop) {
        std::string scheme = url.substr(0, url.find(':'));
        if (strings::to_lower(scheme) == "http" && !policy_.allow_http)
            throw Error("refusing plain-http URL " + url +
                        " (pass --insecure-options=http to allow it)");
        if (strings::to_lower(scheme) != "http" && strings::to_lower(scheme) != "https")
            throw Error("refusing URL " + url + ": only http and https are supported");
        bool same_origin = url_origin(url) == first_origin;
        HttpResponse resp = perform_once(req, url, same_origin, limit, sink, start);
        bool redirect = resp.status == 301 || resp.status == 302 || resp.status == 303 ||
                        resp.status == 307 || resp.status == 308;
        if (!redirect) return resp;
        std::string location = resp.header("location");
        if (location.empty())
            throw Error("HTTP " + std::to_string(resp.status) + " from " + url +
                        " has no Location header");
        if (hop >= policy_.max_redirects)
            throw Error("too many redirects (more than " + std::to_string(policy_.max_redirects) +
                        ") starting at " + req.url);
        std::string next = resolve_url(url, location);
        log::debug("redirected to " + next);
        url = next;
    }
}

HttpResponse HttpClient::perform_once(const HttpRequest& req, const std::string& url,
                                      bool send_auth, size_t limit, const Sink& sink,
                                      const Start& start) {
    CURL* c = handle_->curl;
    curl_easy_reset(c);
    HttpResponse resp;
    Transfer t;
    t.curl = c;
    t.response = &resp;
    t.limit = limit;
    t.sink = &sink;
    t.start = &start;

    Slist headers;
    auto add = [&](const std::string& h) {
        curl_slist* next = curl_slist_append(headers.get(), h.c_str());
        if (!next) throw Error("out of memory building request headers");
        (void)headers.release();
        headers.reset(next);
    };
    for (const auto& h : req.headers) add(h);
    if (send_auth)
        for (const auto& h : req.auth_headers) add(h);
    add("Expect:");  // no 100-continue round trip on PUT

    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, policy_.allow_http ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, policy_.verify_tls ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, policy_.verify_tls ? 2L : 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    // A stalled server (under 1 byte/s for 60 s) is a failure rather than a hang.
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "rkt/" RKT_REGISTRY_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
    if (req.method == "HEAD") {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (req.method != "GET") {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }

    CURLcode rc = curl_easy_perform(c);
    if (t.error) std::rethrow_exception(t.error);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
    resp.url = url;
    if (!t.abort_reason.empty()) throw Error(url + ": " + t.abort_reason);
    if (rc != CURLE_OK) {
        std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        bool tls = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
                   rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_SSL_CERTPROBLEM;
        if (tls && policy_.verify_tls)
            detail +=
                " (for an untrusted certificate pass --insecure-options=tls; for a "
                "plain-http registry --insecure-options=http)";
        throw TransferError(url + ": " + detail, is_retryable(rc));
    }
    return resp;
}

}  // namespace rkt::registry
