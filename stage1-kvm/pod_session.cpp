#include "stage1-kvm/pod_session.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/log.h"
#include "common/pod_files.h"
#include "common/strings.h"
#include "stage1-kvm/control_socket.h"

namespace rkt::kvm {

namespace {

constexpr size_t kMaxClients = 32;
// A control client that does not read what it is sent is dropped past this much.
constexpr size_t kMaxClientBacklog = 4u << 20;
// A guest that does not read what the host sends (it is hung) is killed past this much.
constexpr size_t kMaxGuestBacklog = 4u << 20;
constexpr size_t kConsoleTail = size_t{64} * 1024;
// After a graceful stop the guest has the grace time and this much more to end the VM.
constexpr auto kStopMargin = std::chrono::seconds(15);

}  // namespace

std::string kernel_panic_line(std::string_view console) {
    constexpr std::string_view kPanic = "Kernel panic - not syncing: ";
    std::string found;
    for (const auto& line : strings::split(console, '\n')) {
        // The kernel's own format: "[<seconds>.<fraction>] " (CONFIG_PRINTK_TIME) and the text.
        std::string_view rest = line;
        if (rest.empty() || rest.front() != '[') continue;
        rest.remove_prefix(1);
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        auto digits = [&rest] {
            size_t n = 0;
            while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
            rest.remove_prefix(n);
            return n > 0;
        };
        if (!digits() || rest.empty() || rest.front() != '.') continue;
        rest.remove_prefix(1);
        if (!digits() || rest.substr(0, 2) != "] ") continue;
        rest.remove_prefix(2);
        if (rest.substr(0, kPanic.size()) != kPanic) continue;
        found = strings::trim(std::string(rest));  // the last one: a panic is the end
    }
    return found;
}

bool OutBuffer::flush(int fd) {
    while (offset_ < data_.size()) {
        ssize_t n = io::retry_eintr([&] {
            return ::send(fd, data_.data() + offset_, data_.size() - offset_, MSG_NOSIGNAL);
        });
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n <= 0) return false;
        offset_ += static_cast<size_t>(n);
    }
    if (offset_ == data_.size()) {
        data_.clear();
        offset_ = 0;
    } else if (offset_ > (1u << 20)) {
        data_.erase(0, offset_);
        offset_ = 0;
    }
    return true;
}

PodSession::PodSession(SessionConfig config, UniqueFd guest, UniqueFd control, UniqueFd signals)
    : config_(std::move(config)),
      guest_(std::move(guest)),
      control_(std::move(control)),
      signals_(std::move(signals)) {
    timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!timer_) throw system_error("timerfd_create");
    for (const auto& app : config_.plan->spec.apps) {
        App a;
        a.name = app.name;
        a.log =
            CappedLog::open(pod_files::app_log_path(config_.pod_dir, app.name), config_.log_limit);
        apps_.push_back(std::move(a));
    }
    loop_.add(guest_.get(), EPOLLIN, [this](uint32_t events) { on_guest(events); });
    loop_.add(config_.engine->ended_fd(), EPOLLIN, [this](uint32_t) { on_vm_ended(); });
    loop_.add(signals_.get(), EPOLLIN, [this](uint32_t) { on_signals(); });
    loop_.add(timer_.get(), EPOLLIN, [this](uint32_t) { on_timer(); });
    if (control_) loop_.add(control_.get(), EPOLLIN, [this](uint32_t) { accept_clients(); });
}

PodSession::~PodSession() {
    // Every exit path ends the VM: an exception out of run() must not leave it behind.
    if (!vm_end_) {
        config_.engine->kill();
        config_.engine->finish();
    }
}

void PodSession::arm_timer() {
    std::optional<Clock::time_point> next;
    for (const auto& d : {ready_deadline_, end_deadline_})
        if (d && (!next || *d < *next)) next = d;
    itimerspec t{};
    if (next) {
        auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(*next - Clock::now());
        if (left.count() <= 0) left = std::chrono::nanoseconds(1);
        t.it_value.tv_sec = static_cast<time_t>(left.count() / 1'000'000'000);
        t.it_value.tv_nsec = static_cast<long>(left.count() % 1'000'000'000);
    }
    ::timerfd_settime(timer_.get(), 0, &t, nullptr);
}

// ---- the guest ----

void PodSession::send_to_guest(const guest::Message& message) {
    if (!guest_) return;
    guest_out_.append(writer_.encode(message));
    flush_guest();
}

void PodSession::flush_guest() {
    if (!guest_) return;
    if (!guest_out_.flush(guest_.get())) {
        guest_out_ = OutBuffer();
        return;  // the VM closed the channel: its end is seen through the engine
    }
    if (guest_out_.size() > kMaxGuestBacklog) {
        fail(EndCause::kGuestNotReading);
        return;
    }
    bool want_out = !guest_out_.empty();
    if (want_out != guest_watching_out_) {
        loop_.modify(guest_.get(), want_out ? uint32_t{EPOLLIN | EPOLLOUT} : uint32_t{EPOLLIN});
        guest_watching_out_ = want_out;
    }
}

void PodSession::on_guest(uint32_t events) {
    if (events & EPOLLOUT) flush_guest();
    if (guest_ && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_guest_readable();
}

void PodSession::close_guest() {
    loop_.remove(guest_.get());
    guest_.reset();
}

void PodSession::on_guest_readable() {
    bool open = true;
    try {
        open = reader_.read_from(guest_.get());
        while (auto m = reader_.next_message()) {
            on_guest_message(*m);
            if (!guest_) return;
        }
    } catch (const Error& e) {
        // Garbage from the guest: nothing after it can be trusted, and the pod cannot go on.
        fail(EndCause::kProtocolError, e.what());
        return;
    }
    if (!open) {
        // The VM closed its end (it is ending); the engine says how.
        close_guest();
    }
}

PodSession::App* PodSession::find_app(const std::string& name) {
    for (auto& a : apps_)
        if (a.name == name) return &a;
    return nullptr;
}

void PodSession::on_guest_message(guest::Message& message) {
    using namespace guest;
    if (auto* ready = std::get_if<Ready>(&message)) {
        if (ready_ns_) {
            log::warn("guest-init said Ready twice; ignored");
            return;
        }
        ready_ns_ = ready->monotonic_ns;
        ready_deadline_.reset();
        arm_timer();
        log::debug("guest-init ready " + std::to_string(ready->monotonic_ns / 1'000'000) +
                   " ms after the guest kernel started (kernel " + ready->kernel_release + ")");
        if (stop_ >= StopState::kGraceful) {
            send_to_guest(StopPod{false});  // before the spec: the guest powers off at once
        } else if (phase_ == Phase::kBooting) {
            send_to_guest(config_.plan->spec);
            phase_ = Phase::kStarting;
        }
    } else if (auto* started = std::get_if<AppStarted>(&message)) {
        App* app = find_app(started->app);
        if (!app) return log::warn("the guest reported an unknown app \"" + started->app + "\"");
        if (app->state == AppState::kWaiting) app->state = AppState::kStarted;
        log::debug("app " + app->name + " started (guest pid " + std::to_string(started->pid) +
                   ")");
        maybe_write_pid();
    } else if (auto* output = std::get_if<AppOutput>(&message)) {
        on_app_output(*output);
    } else if (auto* exited = std::get_if<AppExited>(&message)) {
        on_app_exited(*exited);
    } else if (auto* pod = std::get_if<PodExited>(&message)) {
        pod_exit_code_ = pod->exit_code;
        phase_ = Phase::kPodExited;
        end_because(EndCause::kPodExited);
        end_deadline_ = Clock::now() + config_.end_timeout;
        arm_timer();
        // PodExited is the last frame: hanging up tells guest-init that everything arrived
        // (it waits for that before it ends the VM, docs/guest-protocol.md).
        close_guest();
    } else if (auto* log_message = std::get_if<LogMessage>(&message)) {
        // Diagnostics only: what fails for real also comes as AppExited's error or an Error.
        log::debug("guest: " + log_message->message);
    } else if (auto* error = std::get_if<ErrorMessage>(&message)) {
        log::info("guest-init: " + error->message);
    } else if (auto* es = std::get_if<ExecStarted>(&message)) {
        relay_exec(*es, es->id);
    } else if (auto* eo = std::get_if<ExecOutput>(&message)) {
        relay_exec(*eo, eo->id);
    } else if (auto* ee = std::get_if<ExecExited>(&message)) {
        relay_exec(*ee, ee->id);
    } else {
        throw Error("guest protocol: the guest sent " +
                    std::string(message_type_name(message_type(message))) +
                    ", a message only the host sends");
    }
}

void PodSession::on_app_output(const guest::AppOutput& m) {
    App* app = find_app(m.app);
    if (!app) return log::warn("the guest sent output of an unknown app \"" + m.app + "\"");
    // A closed stdout or a full disk must not stop the pod; the log's size is bounded whatever
    // the app prints.
    io::try_write_all(m.stream == guest::Stream::kStdout ? STDOUT_FILENO : STDERR_FILENO, m.data);
    app->log.write(m.data);
}

void PodSession::on_app_exited(const guest::AppExited& m) {
    App* app = find_app(m.app);
    if (!app) return log::warn("the guest reported the exit of an unknown app \"" + m.app + "\"");
    if (app->state == AppState::kEnded)
        return log::warn("the guest reported app " + m.app + " exiting twice");
    app->state = AppState::kEnded;
    AppEnd end = app_end(m.app, m.exit_code, m.signal, m.error, m.oom_killed,
                         stop_ != StopState::kNone, memory_limit_of(m.app));
    for (const auto& line : end.lines) log::info(line);
    if (end.failed && stop_ == StopState::kNone) stop_ = StopState::kAppFailed;
    statuses_.push_back(end.status);
    if (!end.reason.empty()) pod_files::write_app_end_reason(config_.pod_dir, m.app, end.reason);
    pod_files::write_app_status(config_.pod_dir, m.app, end.status);
    maybe_write_pid();
}

std::string PodSession::memory_limit_of(const std::string& app) const {
    std::optional<uint64_t> limit;
    for (const auto& a : config_.plan->spec.apps)
        if (a.name == app && a.limits.memory_bytes) limit = a.limits.memory_bytes;
    return memory_limit_text(limit, config_.plan->size.memory_mib);
}

void PodSession::maybe_write_pid() {
    // Only apps the PodSpec started count (whatever a guest says before it).
    if (phase_ != Phase::kStarting) return;
    for (const auto& a : apps_)
        if (a.state == AppState::kWaiting) return;
    // Every app has started (or failed to): `enter` now finds what it expects.
    pod_files::write_pid(config_.pod_dir, ::getpid());
    phase_ = Phase::kRunning;
}

// ---- stopping and failing ----

void PodSession::request_stop(bool force, const std::string& why) {
    if (force) {
        if (stop_ == StopState::kForced) return;
        stop_ = StopState::kForced;
        end_because(EndCause::kForceStopped);
        kill_vm(why);
        return;
    }
    if (stop_ >= StopState::kGraceful) return;  // a stop is under way
    stop_ = StopState::kGraceful;
    log::debug("stopping the pod (" + why + ")");
    // Before Ready nothing runs yet: the guest gets StopPod instead of the spec and powers off.
    if (ready_ns_) send_to_guest(guest::StopPod{false});
    auto grace = std::chrono::milliseconds(config_.plan->spec.stop_grace_ms);
    auto deadline = Clock::now() + grace + kStopMargin;
    if (!end_deadline_ || deadline < *end_deadline_) end_deadline_ = deadline;
    arm_timer();
}

void PodSession::kill_vm(const std::string& why) {
    if (vm_end_) return;  // over: its process is reaped
    log::debug("ending the VM at once (" + why + ")");
    config_.engine->kill();
}

void PodSession::end_because(EndCause cause, std::string detail) {
    EndCause next = next_end_cause(end_cause_, cause);
    if (end_cause_ == next) return;
    end_cause_ = next;
    end_detail_ = std::move(detail);
    log::debug("the pod ends: " + std::string(to_string(next)));
}

void PodSession::fail(EndCause cause, std::string detail) {
    std::string why = detail.empty() ? std::string(to_string(cause)) : detail;
    end_because(cause, std::move(detail));
    kill_vm(why);
    if (guest_) {
        close_guest();
    }
}

void PodSession::on_timer() {
    uint64_t expirations;
    [[maybe_unused]] auto n = ::read(timer_.get(), &expirations, sizeof expirations);
    auto now = Clock::now();
    if (ready_deadline_ && now >= *ready_deadline_) {
        ready_deadline_.reset();
        end_because(EndCause::kReadyTimeout);
        kill_vm("watchdog");
    }
    if (end_deadline_ && now >= *end_deadline_) {
        end_deadline_.reset();
        if (phase_ == Phase::kPodExited) {
            kill_vm("the VM did not end after the pod");  // the pod's exit code stands
        } else {
            end_because(EndCause::kStopTimedOut);
            kill_vm("the pod did not stop in time");
        }
    }
    arm_timer();
}

void PodSession::on_signals() {
    signalfd_siginfo info{};
    while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
        ++signals_seen_;
        std::string name = strsignal(static_cast<int>(info.ssi_signo));
        // The first signal stops the pod gracefully; another one insists.
        request_stop(signals_seen_ > 1, "received " + name);
    }
}

// ---- control clients (stop, enter) ----

void PodSession::accept_clients() {
    for (;;) {
        UniqueFd fd(::accept4(control_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!fd) return;  // EAGAIN (or a transient error): nothing more now
        if (!peer_is_trusted(fd.get()) || clients_.size() >= kMaxClients) continue;
        int raw = fd.get();
        auto client = std::make_unique<Client>();
        client->fd = std::move(fd);
        loop_.add(raw, EPOLLIN, [this, raw](uint32_t events) { on_client(raw, events); });
        clients_.emplace(raw, std::move(client));
    }
}

void PodSession::send_to_client(Client& client, const guest::Message& message) {
    client.out.append(client.writer.encode(message));
    int fd = client.fd.get();
    if (!client.out.flush(fd) || client.out.size() > kMaxClientBacklog) {
        drop_client(fd);
        return;
    }
    bool want_out = !client.out.empty();
    if (want_out != client.watching_out) {
        loop_.modify(fd, want_out ? uint32_t{EPOLLIN | EPOLLOUT} : uint32_t{EPOLLIN});
        client.watching_out = want_out;
    }
}

void PodSession::drop_client(int fd) {
    auto it = clients_.find(fd);
    if (it == clients_.end()) return;
    // Its commands must not outlive it.
    for (const auto& [client_id, global_id] : it->second->execs) {
        exec_routes_.erase(global_id);
        if (!vm_end_) send_to_guest(guest::ExecSignal{global_id, SIGKILL});
    }
    loop_.remove(fd);
    clients_.erase(it);
}

void PodSession::on_client(int fd, uint32_t events) {
    auto it = clients_.find(fd);
    if (it == clients_.end()) return;
    Client& client = *it->second;
    if (events & EPOLLOUT) {
        if (!client.out.flush(fd)) return drop_client(fd);
        if (client.out.empty() && client.watching_out) {
            loop_.modify(fd, EPOLLIN);
            client.watching_out = false;
        }
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    try {
        bool open = client.reader.read_from(fd);
        while (auto m = client.reader.next_message()) {
            on_client_message(client, *m);
            if (!clients_.count(fd)) return;  // dropped while handling
        }
        if (!open) drop_client(fd);
    } catch (const Error& e) {
        log::debug(std::string("control client: ") + e.what());
        drop_client(fd);
    }
}

void PodSession::on_client_message(Client& client, guest::Message& message) {
    using namespace guest;
    if (auto* stop = std::get_if<StopPod>(&message)) {
        request_stop(stop->force, stop->force ? "stop --force" : "stop");
    } else if (auto* exec = std::get_if<Exec>(&message)) {
        auto refuse = [&](const std::string& why) {
            send_to_client(client, ExecExited{exec->id, 126, 0, "could not start: " + why});
        };
        if (client.execs.count(exec->id)) return refuse("command id already in use");
        if (phase_ < Phase::kRunning) return refuse("the pod's apps have not started yet");
        if (phase_ != Phase::kRunning || stop_ != StopState::kNone)
            return refuse("the pod is stopping");
        if (!find_app(exec->app)) return refuse("the pod has no app named " + exec->app);
        // Commands must not pile up in front of a guest that is slow to read them.
        if (guest_out_.size() > kMaxGuestBacklog / 4) return refuse("the guest is busy; try again");
        uint32_t id = next_exec_id_++;
        if (next_exec_id_ > INT32_MAX) next_exec_id_ = 1;
        client.execs[exec->id] = id;
        exec_routes_[id] = {client.fd.get(), exec->id};
        send_to_guest(Exec{id, exec->app, exec->exec});
    } else if (auto* sig = std::get_if<ExecSignal>(&message)) {
        auto it = client.execs.find(sig->id);
        if (it != client.execs.end()) send_to_guest(ExecSignal{it->second, sig->signal});
    } else {
        send_to_client(client, ErrorMessage{"the control socket takes StopPod, Exec and "
                                            "ExecSignal, not " +
                                            std::string(message_type_name(message_type(message)))});
        drop_client(client.fd.get());
    }
}

void PodSession::relay_exec(const guest::Message& message, uint32_t global_id) {
    auto route = exec_routes_.find(global_id);
    if (route == exec_routes_.end()) return;  // its client is gone
    auto it = clients_.find(route->second.client_fd);
    if (it == clients_.end()) return;
    Client& client = *it->second;
    uint32_t client_id = route->second.client_id;
    guest::Message copy = message;
    std::visit(
        [&](auto& m) {
            if constexpr (requires { m.id; }) m.id = client_id;
        },
        copy);
    if (std::holds_alternative<guest::ExecExited>(copy)) {
        client.execs.erase(client_id);
        exec_routes_.erase(route);
    }
    send_to_client(client, copy);
}

// ---- the end ----

void PodSession::on_vm_ended() {
    vm_end_ = config_.engine->finish();
    loop_.remove(config_.engine->ended_fd());
    // What the guest wrote just before the end is still in the channel.
    if (guest_) {
        for (int i = 0; i < 64 && guest_; ++i) {
            size_t before = reader_.buffered();
            on_guest_readable();
            if (guest_ && reader_.buffered() == before) {
                pollfd p{guest_.get(), POLLIN, 0};
                if (::poll(&p, 1, 0) <= 0) break;
            }
        }
    }
    // Nothing else ended the pod: the VM's own end did.
    if (!end_cause_ && stop_ >= StopState::kGraceful && phase_ == Phase::kBooting && vm_end_->clean)
        end_because(EndCause::kStoppedBeforeStart);
    if (!end_cause_ || is_failure(*end_cause_)) panic_line_ = console_panic_line();
    if (!end_cause_)
        end_because(panic_line_.empty() ? EndCause::kVmDied : EndCause::kGuestPanicked);
    phase_ = Phase::kEnded;
    loop_.stop();  // nothing after the end is dispatched
}

std::string PodSession::console_panic_line() const {
    // Once an app has run, only a VM that ended by itself (a panic reboots it) can have panicked;
    // a VM killed by someone did not, whatever its console says.
    if (phase_ >= Phase::kStarting && !(vm_end_->clean && !vm_end_->killed_by_us)) return "";
    std::string text;
    try {
        text = fs::read_file_limited(config_.console_log, 16u << 20);
    } catch (const Error&) {
        return "";
    }
    if (text.size() > kConsoleTail) {
        // From the first whole line of the tail: the rest of a cut line is no line of its own.
        size_t cut = text.find('\n', text.size() - kConsoleTail);
        text.erase(0, cut == std::string::npos ? text.size() : cut + 1);
    }
    return kernel_panic_line(text);
}

int PodSession::finish_result() {
    // Commands still relayed get no answer any more.
    for (auto& [fd, client] : clients_) {
        if (client->execs.empty()) continue;
        client->out.append(client->writer.encode(guest::ErrorMessage{"the pod ended"}));
        client->out.flush(fd);
    }
    clients_.clear();

    SessionFacts facts;
    facts.cause = end_cause_.value_or(EndCause::kVmDied);
    facts.detail = end_detail_;
    facts.statuses = statuses_;
    facts.pod_exit_code = pod_exit_code_;
    facts.panic_line = panic_line_;
    facts.vm_end = vm_end_ ? vm_end_->description : "";
    facts.guest_was_ready = ready_ns_.has_value();
    facts.ready_timeout = config_.ready_timeout;
    SessionOutcome outcome = session_outcome(facts);
    if (outcome.unfinished_app_status) {
        for (auto& a : apps_) {
            if (a.state == AppState::kEnded) continue;
            pod_files::write_app_status(config_.pod_dir, a.name, *outcome.unfinished_app_status);
            a.state = AppState::kEnded;
        }
    }
    if (outcome.failed) throw Error(outcome.line);
    if (!outcome.line.empty()) log::info(outcome.line);
    return outcome.exit_code;
}

int PodSession::run() {
    started_ = Clock::now();
    ready_deadline_ = started_ + config_.ready_timeout;
    arm_timer();
    loop_.run();
    return finish_result();
}

}  // namespace rkt::kvm
