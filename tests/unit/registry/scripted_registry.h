// A registry that answers what a test scripts, over real HTTP on 127.0.0.1, for the replies a
// hostile registry can send (the real registry of the end-to-end tests never misbehaves). One
// connection at a time, "Connection: close"; a TLS hello is hung up on, so that a client trying
// https first falls back to http at once.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"

namespace rkt::registry::test {

struct ScriptedRequest {
    std::string method;
    std::string path;                            // with the query
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
};

struct ScriptedResponse {
    int status = 200;
    std::vector<std::string> headers;  // "Name: value"
    std::string body;
};

class ScriptedRegistry {
public:
    using Handler = std::function<ScriptedResponse(const ScriptedRequest&)>;

    explicit ScriptedRegistry(Handler handler);
    ~ScriptedRegistry();
    ScriptedRegistry(const ScriptedRegistry&) = delete;
    ScriptedRegistry& operator=(const ScriptedRegistry&) = delete;

    // "127.0.0.1:PORT"
    std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
    // Every request served so far.
    std::vector<ScriptedRequest> requests() const;

private:
    void serve();
    void answer(int fd);

    Handler handler_;
    UniqueFd listener_;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::vector<ScriptedRequest> requests_;
    std::thread thread_;
};

}  // namespace rkt::registry::test
