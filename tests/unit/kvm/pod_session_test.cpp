// The host side of a pod against a scripted guest: a test thread speaks the guest protocol on
// the other end of the channel (what guest-init would send, and what a hostile guest could), and
// a small engine stands in for the VM's life (the real engines need a VM: tests/e2e/test_kvm.py).
#include "stage1-kvm/pod_session.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "stage1-kvm/control_socket.h"

namespace rkt::kvm {
namespace {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// No wait in these tests is open-ended: a step of a script, or a wait of the test's own, gives
// up after this long (longer than any of the session's own timeouts used here).
constexpr auto kStepDeadline = 30s;

// Waits until `fd` is readable (or at end of file); false when `deadline` passes first.
bool wait_readable(int fd, Clock::time_point deadline) {
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready > 0) return true;
        if (ready < 0 && errno != EINTR) throw system_error("cannot poll");
    }
}

class ScriptedEngine : public VmEngine {
public:
    ScriptedEngine() : ended_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
    std::string name() const override { return "a scripted VM"; }
    UniqueFd start(const VmLaunch&) override { throw Error("not used"); }
    int ended_fd() const override { return ended_.get(); }
    void kill() override {
        killed = true;
        end();
    }
    VmEnd finish() override { return {!killed, killed.load(), "scripted end"}; }
    void end() {
        uint64_t one = 1;
        if (::write(ended_.get(), &one, sizeof one) != sizeof one)
            throw system_error("cannot signal the end of the scripted VM");
    }
    std::atomic<bool> killed{false};

private:
    UniqueFd ended_;
};

// The guest's end of the channel, used from the script thread. Every step throws when it
// fails (the test then fails with the script's error) or when the host keeps it waiting past
// kStepDeadline.
class Guest {
public:
    explicit Guest(UniqueFd fd) : fd_(std::move(fd)) {}
    void send(const guest::Message& m) { writer_.write(fd_.get(), m); }
    void send_raw(const std::string& bytes) { io::write_all(fd_.get(), bytes, "to the host"); }
    // The next message from the host; nullopt at end of file.
    std::optional<guest::Message> next() {
        auto deadline = Clock::now() + kStepDeadline;
        for (;;) {
            if (auto m = reader_.next_message()) return m;
            if (!wait_readable(fd_.get(), deadline))
                throw Error("the host sent nothing for " + std::to_string(kStepDeadline.count()) +
                            " s");
            if (!reader_.read_from(fd_.get())) return std::nullopt;
        }
    }
    template <typename T>
    T expect() {
        auto m = next();
        if (!m) throw Error("the host closed the channel");
        if (!std::holds_alternative<T>(*m)) throw Error("unexpected message from the host");
        return std::get<T>(*m);
    }

private:
    UniqueFd fd_;
    guest::FrameReader reader_;
    guest::FrameWriter writer_;
};

class PodSessionTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = stdfs::temp_directory_path() /
               ("rkt-kvm-session-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        stdfs::remove_all(dir_);
        stdfs::create_directories(dir_ / "logs");
        guest::GuestApp app;
        app.name = "web";
        app.exec = {"/web"};
        plan_.spec.hostname = "rkt-test";
        plan_.spec.apps = {app};
        app.name = "side";
        plan_.spec.apps.push_back(app);
        // SIGHUP reaches the session through a real signalfd; blocked in every thread.
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGHUP);
        ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
        signals_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
        // As the stage1 does: a write to a closed channel is an error (EPIPE), not death.
        ::signal(SIGPIPE, SIG_IGN);
    }
    void TearDown() override {
        if (script_.joinable()) script_.join();
        stdfs::remove_all(dir_);
    }

    // Runs the session with `script` playing the guest; returns the exit code or the error.
    // The script must run to its end: any step that failed fails the test.
    std::variant<int, std::string> run(const std::function<void(Guest&)>& script,
                                       std::chrono::milliseconds ready_timeout = 30s,
                                       UniqueFd control = {}) {
        int pair[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
        ::fcntl(pair[0], F_SETFL, O_NONBLOCK);
        script_ = std::thread([this, script, fd = pair[1]]() mutable {
            Guest guest{UniqueFd(fd)};
            try {
                script(guest);
            } catch (const std::exception& e) {
                script_error_ = e.what();
            }
        });
        SessionConfig config;
        config.pod_dir = dir_;
        config.plan = &plan_;
        config.engine = &engine_;
        config.console_log = dir_ / "console.log";
        config.ready_timeout = ready_timeout;
        std::variant<int, std::string> result;
        try {
            PodSession session(config, UniqueFd(pair[0]), std::move(control), std::move(signals_));
            result = session.run();
        } catch (const Error& e) {
            result = std::string(e.what());
        }
        // The session is gone and its end of the channel closed: the script's next read ends.
        script_.join();
        EXPECT_EQ(script_error_, "") << "a step of the scripted guest failed";
        return result;
    }

    std::string file(const std::string& name) {
        return fs::read_file_if_exists(dir_ / name).value_or("<missing>");
    }

    stdfs::path dir_;
    PodPlan plan_;
    ScriptedEngine engine_;
    UniqueFd signals_;
    std::thread script_;
    std::string script_error_;
};

// What guest-init does for a pod whose apps exit 0 and 3.
void normal_pod(Guest& g, ScriptedEngine& engine) {
    g.send(guest::Ready{123'000'000, "6.1.0"});
    auto spec = g.expect<guest::PodSpec>();
    if (spec.apps.size() != 2) throw Error("wrong spec");
    g.send(guest::AppStarted{"web", 10});
    g.send(guest::AppStarted{"side", 11});
    g.send(guest::AppOutput{"web", guest::Stream::kStdout, "hello from web\n"});
    g.send(guest::AppOutput{"side", guest::Stream::kStderr, std::string("bin\0ary\n", 8)});
    g.send(guest::AppExited{"side", 0, 0, ""});
    g.send(guest::AppExited{"web", 3, 0, ""});
    g.send(guest::PodExited{3});
    engine.end();
}

TEST_F(PodSessionTest, RunsThePodToItsExitCode) {
    auto result = run([this](Guest& g) { normal_pod(g, engine_); });
    ASSERT_TRUE(std::holds_alternative<int>(result)) << std::get<std::string>(result);
    EXPECT_EQ(std::get<int>(result), 3);
    EXPECT_EQ(script_error_, "");
    EXPECT_EQ(file("logs/web.log"), "hello from web\n");
    EXPECT_EQ(file("logs/side.log"), std::string("bin\0ary\n", 8));
    EXPECT_EQ(file("status/web"), "3");
    EXPECT_EQ(file("status/side"), "0");
    EXPECT_EQ(file("pid"), std::to_string(::getpid()) + "\n");
    EXPECT_FALSE(engine_.killed);
}

TEST_F(PodSessionTest, ReportsAnAppThatCouldNotExecute) {
    auto result = run([this](Guest& g) {
        g.send(guest::Ready{1, "6.1.0"});
        g.expect<guest::PodSpec>();
        g.send(guest::AppExited{"web", 127, 0, "could not execute: /web: no such file"});
        g.send(guest::AppStarted{"side", 11});
        g.send(guest::AppExited{"side", 143, 15, ""});  // stopped by the failure: counts as 0
        g.send(guest::PodExited{127});
        engine_.end();
    });
    ASSERT_TRUE(std::holds_alternative<int>(result));
    EXPECT_EQ(std::get<int>(result), 127);
    EXPECT_EQ(file("status/web"), "127");
    EXPECT_EQ(file("status/side"), "0");
}

TEST_F(PodSessionTest, GarbageFromTheGuestEndsThePod) {
    auto result = run([](Guest& g) {
        g.send(guest::Ready{1, "6.1.0"});
        g.expect<guest::PodSpec>();
        g.send_raw("GET / HTTP/1.1\r\n\r\n");
        g.next();  // until the host hangs up
    });
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_NE(std::get<std::string>(result).find("bad frame magic"), std::string::npos);
    EXPECT_TRUE(engine_.killed);
}

TEST_F(PodSessionTest, AGuestCannotNameFilesOutsideThePod) {
    auto result = run([](Guest& g) {
        g.send(guest::Ready{1, "6.1.0"});
        g.expect<guest::PodSpec>();
        // A well-formed name the pod does not have: ignored. A path: refused by the decoder.
        g.send(guest::AppExited{"ghost", 1, 0, ""});
        std::string frame = guest::FrameWriter().encode(guest::AppExited{"web", 1, 0, ""});
        // Same length as "web" would not fit a path; rebuild the frame with a hostile name.
        std::string body = R"({"app":"../../x","exit_code":1})";
        std::string bad = frame.substr(0, 8);
        uint32_t seq = 3, len = static_cast<uint32_t>(body.size()), zero = 0;
        bad.append(reinterpret_cast<const char*>(&seq), 4);
        bad.append(reinterpret_cast<const char*>(&len), 4);
        bad.append(reinterpret_cast<const char*>(&zero), 4);
        g.send_raw(bad + body);
        g.next();
    });
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_NE(std::get<std::string>(result).find("not a valid app name"), std::string::npos);
    EXPECT_FALSE(stdfs::exists(dir_ / "status" / "ghost"));
    EXPECT_FALSE(stdfs::exists(dir_ / "x"));
}

TEST_F(PodSessionTest, AGuestThatNeverBecomesReadyIsKilled) {
    auto result = run([](Guest& g) { g.next(); }, 200ms);
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_NE(std::get<std::string>(result).find("did not become ready"), std::string::npos);
    EXPECT_TRUE(engine_.killed);
}

TEST_F(PodSessionTest, AVmThatDiesEndsThePodWithTheReason) {
    stdfs::create_directories(dir_);
    fs::write_file(dir_ / "console.log",
                   "boot\n[    1.0] Kernel panic - not syncing: Attempted to kill init!\nmore\n");
    auto result = run([this](Guest& g) {
        g.send(guest::Ready{1, "6.1.0"});
        g.expect<guest::PodSpec>();
        engine_.end();
        g.next();
    });
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_NE(std::get<std::string>(result).find("Kernel panic - not syncing: Attempted to kill"),
              std::string::npos);
}

TEST_F(PodSessionTest, AnAppTheOomKillerEndedIsReportedAsSuch) {
    plan_.spec.apps[0].limits.memory_bytes = 64u << 20;
    plan_.size.memory_mib = 192;
    testing::internal::CaptureStderr();
    auto result = run([this](Guest& g) {
        g.send(guest::Ready{1, "6.1.0"});
        g.expect<guest::PodSpec>();
        g.send(guest::AppStarted{"web", 10});
        g.send(guest::AppStarted{"side", 11});
        g.send(guest::AppExited{"web", 137, 9, "", true});
        g.send(guest::AppExited{"side", 137, 9, "", true});
        g.send(guest::PodExited{137});
        engine_.end();
    });
    std::string err = testing::internal::GetCapturedStderr();
    ASSERT_TRUE(std::holds_alternative<int>(result)) << std::get<std::string>(result);
    EXPECT_EQ(std::get<int>(result), 137);
    EXPECT_EQ(file("status/web"), "137");
    EXPECT_EQ(file("status/web.reason"), "oom-killed");
    EXPECT_EQ(file("status/side.reason"), "oom-killed");
    EXPECT_NE(err.find("app \"web\" was killed by the OOM killer (memory limit 64 MiB)"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("app \"side\" was killed by the OOM killer (no memory limit of its own: "
                       "the VM's 192 MiB ran out)"),
              std::string::npos)
        << err;
}

TEST_F(PodSessionTest, AnAppKilledOtherwiseHasNoReason) {
    auto result = run([this](Guest& g) { normal_pod(g, engine_); });
    ASSERT_TRUE(std::holds_alternative<int>(result));
    EXPECT_FALSE(stdfs::exists(dir_ / "status" / "web.reason"));
}

TEST(KernelPanicLine, OnlyTheKernelsOwnFormatCounts) {
    EXPECT_EQ(
        kernel_panic_line("[    0.812345] Kernel panic - not syncing: No working init found.  "
                          "Try passing init= option to kernel.\r\n[    0.8] more\r\n"),
        "Kernel panic - not syncing: No working init found.  Try passing init= option to "
        "kernel.");
    EXPECT_EQ(kernel_panic_line("[12345.000001] Kernel panic - not syncing: Attempted to kill "
                                "init! exitcode=0x00000009\n"),
              "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009");
    // What is not the kernel's line: guest-init's messages, text in the middle of a line, a line
    // without the kernel's timestamp, a malformed one.
    EXPECT_EQ(kernel_panic_line("guest-init: Kernel panic - not syncing: fake\n"), "");
    EXPECT_EQ(kernel_panic_line("guest-init: x [ 1.000000] Kernel panic - not syncing: fake\n"),
              "");
    EXPECT_EQ(kernel_panic_line("Kernel panic - not syncing: fake\n"), "");
    EXPECT_EQ(kernel_panic_line("[ 1.x] Kernel panic - not syncing: fake\n"), "");
    EXPECT_EQ(kernel_panic_line("[ .5] Kernel panic - not syncing: fake\n"), "");
    EXPECT_EQ(kernel_panic_line("[ 1.5]Kernel panic - not syncing: fake\n"), "");
    // The last one: a panic is the kernel's end.
    EXPECT_EQ(kernel_panic_line("[ 1.0] Kernel panic - not syncing: one\n"
                                "[ 2.0] Kernel panic - not syncing: two\n"),
              "Kernel panic - not syncing: two");
}

TEST_F(PodSessionTest, AVmKilledUnderThePodIsNotAPanicWhateverTheConsoleSays) {
    stdfs::create_directories(dir_);
    fs::write_file(dir_ / "console.log", "[    3.000000] Kernel panic - not syncing: fake\n");
    // The engine saw its VM killed (not by this session): no clean end.
    struct KilledEngine : ScriptedEngine {
        VmEnd finish() override { return {false, false, "QEMU was killed by signal 9"}; }
    };
    KilledEngine killed_engine;
    SessionConfig config;
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    ::fcntl(pair[0], F_SETFL, O_NONBLOCK);
    std::thread script([&, fd = pair[1]] {
        Guest g{UniqueFd(fd)};
        try {
            g.send(guest::Ready{1, "6.1.0"});
            g.expect<guest::PodSpec>();
            g.send(guest::AppStarted{"web", 10});
            killed_engine.end();
            g.next();
        } catch (const std::exception&) {
        }
    });
    config.pod_dir = dir_;
    config.plan = &plan_;
    config.engine = &killed_engine;
    config.console_log = dir_ / "console.log";
    std::string error;
    try {
        PodSession session(config, UniqueFd(pair[0]), {}, std::move(signals_));
        session.run();
    } catch (const Error& e) {
        error = e.what();
    }
    script.join();
    EXPECT_NE(error.find("the VM ended before the pod did (QEMU was killed by signal 9)"),
              std::string::npos)
        << error;
    EXPECT_EQ(error.find("fake"), std::string::npos) << error;
}

TEST_F(PodSessionTest, APanicLineIsNeverTheRestOfACutLine) {
    // The host reads the console's last 64 KiB. A line guest-init wrote that quotes a panic
    // line (its control characters shown as '?') must not become one where the cut falls.
    std::string fake = "[    1.000000] Kernel panic - not syncing: fake";
    fake += std::string(size_t{64} * 1024 - fake.size() - 1, 'x') + "\n";
    stdfs::create_directories(dir_);
    fs::write_file(dir_ / "console.log", "boot\nguest-init: could not execute: /x?" + fake);
    auto result = run([this](Guest& g) {
        g.send(guest::Ready{1, "6.1.0"});
        g.expect<guest::PodSpec>();
        engine_.end();  // the VM ends by itself
        g.next();
    });
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_EQ(std::get<std::string>(result).find("fake"), std::string::npos)
        << std::get<std::string>(result);
    EXPECT_NE(std::get<std::string>(result).find("the VM ended before the pod did"),
              std::string::npos);
}

TEST_F(PodSessionTest, AppsAGuestReportsBeforeTheSpecDoNotStartThePod) {
    // `pid` tells enter the apps run; a guest cannot claim that before it has the PodSpec.
    auto result = run([this](Guest& g) {
        g.send(guest::AppStarted{"web", 10});
        g.send(guest::AppStarted{"side", 11});
        g.send(guest::Ready{1, "6.1.0"});
        g.expect<guest::PodSpec>();
        g.send(guest::PodExited{0});
        engine_.end();
    });
    ASSERT_TRUE(std::holds_alternative<int>(result)) << std::get<std::string>(result);
    EXPECT_EQ(std::get<int>(result), 0);
    EXPECT_EQ(file("pid"), "<missing>");
}

TEST_F(PodSessionTest, ASignalStopsThePodGracefully) {
    auto result = run([this](Guest& g) {
        g.send(guest::Ready{1, "6.1.0"});
        g.expect<guest::PodSpec>();
        g.send(guest::AppStarted{"web", 10});
        g.send(guest::AppStarted{"side", 11});
        ::kill(::getpid(), SIGHUP);
        auto stop = g.expect<guest::StopPod>();
        if (stop.force) throw Error("expected a graceful stop");
        g.send(guest::AppExited{"web", 143, 15, ""});
        g.send(guest::AppExited{"side", 0, 0, ""});
        g.send(guest::PodExited{143});
        engine_.end();
    });
    ASSERT_TRUE(std::holds_alternative<int>(result)) << std::get<std::string>(result);
    EXPECT_EQ(script_error_, "");
    EXPECT_EQ(std::get<int>(result), 0);  // SIGTERM from the stop is a clean end, as in rkt
    EXPECT_EQ(file("status/web"), "0");
}

TEST_F(PodSessionTest, RelaysEnterCommandsAndForceStops) {
    stdfs::path old = stdfs::current_path();
    stdfs::create_directories(dir_);
    stdfs::current_path(dir_);
    UniqueFd control = listen_control_socket();
    UniqueFd client = connect_control_socket();
    ASSERT_TRUE(client.valid());
    std::string client_error;
    std::vector<guest::Message> client_got;
    std::thread enter([&] {
        try {
            guest::FrameWriter w;
            guest::FrameReader r;
            // Wait until the apps run (the pid file), as stage1 enter does.
            auto deadline = Clock::now() + kStepDeadline;
            while (!stdfs::exists(dir_ / "pid")) {
                if (Clock::now() > deadline) throw Error("no pid file within the deadline");
                std::this_thread::sleep_for(1ms);
            }
            w.write(client.get(), guest::Exec{5, "web", {"/bin/true"}});
            deadline = Clock::now() + kStepDeadline;
            for (;;) {
                while (auto m = r.next_message()) {
                    client_got.push_back(*m);
                    if (std::holds_alternative<guest::ExecExited>(*m)) {
                        w.write(client.get(), guest::StopPod{true});
                        return;
                    }
                }
                if (!wait_readable(client.get(), deadline))
                    throw Error("the session did not answer within the deadline");
                if (!r.read_from(client.get())) return;
            }
        } catch (const std::exception& e) {
            client_error = e.what();
        }
    });
    auto result = run(
        [](Guest& g) {
            g.send(guest::Ready{1, "6.1.0"});
            g.expect<guest::PodSpec>();
            g.send(guest::AppStarted{"web", 10});
            g.send(guest::AppStarted{"side", 11});
            auto exec = g.expect<guest::Exec>();
            if (exec.app != "web" || exec.exec != std::vector<std::string>{"/bin/true"})
                throw Error("wrong Exec");
            g.send(guest::ExecStarted{exec.id, 20});
            g.send(guest::ExecOutput{exec.id, guest::Stream::kStdout, "entered\n"});
            g.send(guest::ExecExited{exec.id, 4, 0, ""});
            g.next();  // the force stop kills the VM: the channel closes
        },
        30s, std::move(control));
    enter.join();
    stdfs::current_path(old);
    ASSERT_TRUE(std::holds_alternative<int>(result)) << std::get<std::string>(result);
    EXPECT_EQ(std::get<int>(result), 137);
    EXPECT_TRUE(engine_.killed);
    EXPECT_EQ(client_error, "");
    ASSERT_EQ(client_got.size(), 3u);
    EXPECT_EQ(std::get<guest::ExecStarted>(client_got[0]).id, 5u);
    EXPECT_EQ(std::get<guest::ExecOutput>(client_got[1]).data, "entered\n");
    EXPECT_EQ(std::get<guest::ExecExited>(client_got[2]), (guest::ExecExited{5, 4, 0, ""}));
    EXPECT_EQ(file("status/web"), "137");
}

}  // namespace
}  // namespace rkt::kvm

namespace rkt::kvm {
namespace {

TEST_F(PodSessionTest, AnAppFloodingItsOutputLeavesABoundedLog) {
    // The flood also goes to this process's stdout, as rkt run's: keep it out of the test log.
    int saved = ::dup(STDOUT_FILENO);
    int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    ASSERT_GE(devnull, 0);
    ::dup2(devnull, STDOUT_FILENO);
    ::close(devnull);
    const std::string chunk(size_t{64} * 1024, 'x');
    const size_t chunks = (kDefaultLogLimit + (2u << 20)) / chunk.size();
    auto result = run([&](Guest& g) {
        g.send(guest::Ready{1, "6.1.0"});
        g.expect<guest::PodSpec>();
        g.send(guest::AppStarted{"web", 10});
        g.send(guest::AppStarted{"side", 11});
        for (size_t i = 0; i < chunks; ++i)
            g.send(guest::AppOutput{"web", guest::Stream::kStdout, chunk});
        g.send(guest::AppOutput{"web", guest::Stream::kStdout, "the last line\n"});
        g.send(guest::AppExited{"side", 0, 0, ""});
        g.send(guest::AppExited{"web", 0, 0, ""});
        g.send(guest::PodExited{0});
        engine_.end();
    });
    ::dup2(saved, STDOUT_FILENO);
    ::close(saved);
    ASSERT_TRUE(std::holds_alternative<int>(result)) << std::get<std::string>(result);
    EXPECT_EQ(script_error_, "");
    uint64_t current = stdfs::file_size(dir_ / "logs" / "web.log");
    uint64_t previous = stdfs::file_size(dir_ / "logs" / "web.log.1");
    EXPECT_LE(current, kDefaultLogLimit);
    EXPECT_LE(previous, kDefaultLogLimit);
    EXPECT_GE(current + previous, chunks * chunk.size() - kDefaultLogLimit);
    std::string text = file("logs/web.log");
    EXPECT_EQ(text.substr(text.size() - 14), "the last line\n");
}

}  // namespace
}  // namespace rkt::kvm
