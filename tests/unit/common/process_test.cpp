#include "common/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

using namespace std::chrono_literals;

TEST(Process, CapturesOutputAndExitCode) {
    rkt::SpawnOptions opts;
    opts.capture_stdout = true;
    auto r = rkt::run_command({"/bin/sh", "-c", "echo out; exit 3"}, opts);
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(r.output, "out\n");
}

TEST(Process, ReportsSignalsAsShellDoes) {
    auto r = rkt::run_command({"/bin/sh", "-c", "kill -9 $$"});
    EXPECT_EQ(r.exit_code, 128 + 9);
}

TEST(Process, MissingProgramIsAnError) {
    EXPECT_THROW(rkt::run_command({"/nonexistent/program"}), rkt::Error);
}

TEST(Process, DestructorKillsUnwaitedChild) {
    pid_t pid;
    {
        auto child = rkt::ChildProcess::spawn({"/bin/sleep", "100"});
        pid = child.pid();
        EXPECT_FALSE(child.wait_for(10ms).has_value());
    }
    EXPECT_NE(::kill(pid, 0), 0);
}

namespace {

// Runs `body` in a forked child, which may lower its own limits or give up root, and returns its
// exit code (128 + signal when it crashed). A child still running after 30 s is killed: -1.
int run_in_child(const std::function<int()>& body) {
    pid_t pid = ::fork();
    if (pid < 0) return -2;
    if (pid == 0) {
        int code = 100;
        try {
            code = body();
        } catch (...) {
            code = 101;
        }
        ::_exit(code);
    }
    rkt::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    pollfd p{pidfd.get(), POLLIN, 0};
    bool ended = ::poll(&p, 1, 30'000) == 1;
    if (!ended) ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return ended ? rkt::exit_code_from_wait_status(status) : -1;
}

int count_open_fds() {
    int n = 0;
    for (int fd = 0; fd < 4096; ++fd)
        if (::fcntl(fd, F_GETFD) >= 0) ++n;
    return n;
}

// Lowers the soft descriptor limit so that exactly `count` more descriptors can be opened: the
// lowest free numbers, which are the ones the next opens get.
bool leave_free_descriptors(int count) {
    std::vector<rkt::UniqueFd> probes;
    probes.reserve(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) probes.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    int highest = probes.back().get();
    probes.clear();
    rlimit limit{};
    if (highest < 0 || ::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
    limit.rlim_cur = static_cast<rlim_t>(highest) + 1;
    return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

void restore_descriptor_limit() {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
}

// Voluntary context switches of the calling thread: how often it went to sleep.
long voluntary_switches() {
    std::ifstream status("/proc/thread-self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::stol(line.substr(24));
    return -1;
}

rkt::SpawnOptions capturing() {
    rkt::SpawnOptions opts;
    opts.capture_stdout = true;
    return opts;
}

}  // namespace

// The output pipe exists when the second pipe (the exec report) cannot be made: it must close.
TEST(Process, NoDescriptorLeaksWhenTheSecondPipeFails) {
    int code = run_in_child([] {
        // UBSan's type check reads memory through a pipe of its own the first time it meets a
        // type: let it meet Error while descriptors are still free.
        try {
            throw rkt::system_error("before the limit", EMFILE);
        } catch (const rkt::Error& e) {
            if (std::string(e.what()).empty()) return 13;
        }
        int before = count_open_fds();
        if (!leave_free_descriptors(2)) return 10;
        std::string error;
        try {
            rkt::ChildProcess::spawn({"/bin/true"}, capturing());
        } catch (const rkt::Error& e) {
            error = e.what();
        }
        restore_descriptor_limit();
        if (error.find("pipe") == std::string::npos) return 11;
        return count_open_fds() == before ? 0 : 12;
    });
    EXPECT_EQ(code, 0) << "10: cannot lower the limit; 11: spawn did not fail at the pipe; "
                          "12: descriptors leaked; 13: no message";
}

// Both pipes exist when fork fails (RLIMIT_NPROC, which root is exempt from: give it up first).
TEST(Process, NoDescriptorLeaksWhenForkFails) {
    int code = run_in_child([] {
        if (::geteuid() == 0 && ::setresuid(65534, 65534, 65534) != 0) return 10;
        rlimit limit{};
        if (::getrlimit(RLIMIT_NPROC, &limit) != 0) return 10;
        limit.rlim_cur = 0;
        if (::setrlimit(RLIMIT_NPROC, &limit) != 0) return 10;
        int before = count_open_fds();
        std::string error;
        try {
            rkt::ChildProcess::spawn({"/bin/true"}, capturing());
        } catch (const rkt::Error& e) {
            error = e.what();
        }
        if (error.empty()) return 77;
        if (error.find("fork") == std::string::npos) return 11;
        return count_open_fds() == before ? 0 : 12;
    });
    if (code == 77) GTEST_SKIP() << "this process can fork past RLIMIT_NPROC (capabilities)";
    EXPECT_EQ(code, 0) << "10: cannot give up root or lower the limit; 11: spawn failed "
                          "elsewhere; 12: descriptors leaked";
}

// Assigning over a child whose output is on the heap: the old object's members must be released
// once, and the new ones taken intact (in a child: a double free aborts).
TEST(Process, MoveAssignmentReleasesTheOldChildOnce) {
    int code = run_in_child([] {
        auto a = rkt::ChildProcess::spawn({"/bin/echo", std::string(100, 'a')}, capturing());
        a.wait();
        auto b = rkt::ChildProcess::spawn({"/bin/echo", std::string(200, 'b')}, capturing());
        b.wait();
        a = std::move(b);
        return a.output() == std::string(200, 'b') + "\n" ? 0 : 1;
    });
    EXPECT_EQ(code, 0);
}

TEST(Process, MoveAssignmentKillsTheChildItReplaces) {
    auto a = rkt::ChildProcess::spawn({"/bin/sleep", "100"});
    auto b = rkt::ChildProcess::spawn({"/bin/sleep", "100"});
    pid_t replaced = a.pid(), kept = b.pid();
    a = std::move(b);
    EXPECT_NE(::kill(replaced, 0), 0);  // killed and reaped
    EXPECT_EQ(a.pid(), kept);
    EXPECT_EQ(b.pid(), -1);  // NOLINT(bugprone-use-after-move): moved-from state is defined
    EXPECT_FALSE(a.wait_for(0ms).has_value());
}

// A second wait must not reap another child of this process (waitpid(-1) would).
TEST(Process, WaitingTwiceIsAnErrorAndLeavesOtherChildrenAlone) {
    auto other = rkt::ChildProcess::spawn({"/bin/sh", "-c", "exit 6"});
    auto child = rkt::ChildProcess::spawn({"/bin/true"});
    EXPECT_EQ(child.wait(), 0);
    EXPECT_THROW(child.wait(), rkt::Error);
    EXPECT_THROW(child.wait_for(0ms), rkt::Error);
    EXPECT_EQ(other.wait(), 6);
}

// wait_for sleeps on the child's pidfd until it ends, instead of waking every few milliseconds.
TEST(Process, WaitForSleepsUntilTheChildEnds) {
    auto child = rkt::ChildProcess::spawn({"/bin/sh", "-c", "sleep 1; exit 5"});
    long before = voluntary_switches();
    ASSERT_GE(before, 0);
    EXPECT_EQ(child.wait_for(30s), std::optional<int>(5));
    // About 200 when polling every 5 ms over the child's second; one or two when asleep.
    EXPECT_LT(voluntary_switches() - before, 20);
}

TEST(Process, WaitForDrainsAChattyChild) {
    auto child = rkt::ChildProcess::spawn({"/bin/sh", "-c", "head -c 1048576 /dev/zero; exit 2"},
                                          capturing());
    EXPECT_EQ(child.wait_for(30s), std::optional<int>(2));
    EXPECT_EQ(child.output().size(), 1048576u);
}

// On a kernel without pidfd_open (ENOSYS), or under a seccomp filter that refuses it (EPERM),
// wait_for still works. Both errors come from a seccomp filter here.
class ProcessWithoutPidfd : public ::testing::TestWithParam<int> {};

TEST_P(ProcessWithoutPidfd, WaitForStillWorks) {
    int code = run_in_child([error = GetParam()] {
        scmp_filter_ctx filter = ::seccomp_init(SCMP_ACT_ALLOW);
        if (!filter) return 10;
        bool loaded = ::seccomp_rule_add(filter, SCMP_ACT_ERRNO(static_cast<uint32_t>(error)),
                                         SCMP_SYS(pidfd_open), 0) == 0 &&
                      ::seccomp_load(filter) == 0;
        ::seccomp_release(filter);
        if (!loaded) return 10;
        auto ends = rkt::ChildProcess::spawn({"/bin/sh", "-c", "sleep 0.2; exit 4"});
        if (ends.wait_for(30s) != std::optional<int>(4)) return 11;
        auto runs = rkt::ChildProcess::spawn({"/bin/sleep", "100"});
        if (runs.wait_for(50ms).has_value()) return 12;
        return 0;
    });
    EXPECT_EQ(code, 0) << "10: cannot install the filter; 11: the exit was missed; 12: a running "
                          "child was reported ended";
}

INSTANTIATE_TEST_SUITE_P(Errors, ProcessWithoutPidfd, ::testing::Values(ENOSYS, EPERM));

namespace {

// Whether `pid` has ended: gone, or a zombie its new parent has not reaped yet.
bool process_ended(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

rkt::SpawnOptions group_capturing() {
    rkt::SpawnOptions opts;
    opts.capture_stdout = true;
    opts.new_process_group = true;
    opts.kill_process_group = true;
    return opts;
}

}  // namespace

TEST(Process, StdinDataReachesTheChild) {
    rkt::SpawnOptions opts;
    opts.capture_stdout = true;
    opts.stdin_data = "hello\nworld\n";
    auto r = rkt::run_command({"/bin/cat"}, opts);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.output, "hello\nworld\n");
}

TEST(Process, LargeStdinDoesNotDeadlockAChildThatWritesFirst) {
    rkt::SpawnOptions opts;
    opts.capture_stdout = true;
    opts.stdin_data = std::string(1 << 20, 'x');
    auto child = rkt::ChildProcess::spawn(
        {"/bin/sh", "-c", "head -c 300000 /dev/zero; wc -c | tr -d ' '"}, opts);
    ASSERT_EQ(child.wait_for(30s), std::optional<int>(0));
    EXPECT_EQ(child.output().size(), 300000u + 8u);
    EXPECT_EQ(child.output().substr(300000), "1048576\n");
}

TEST(Process, OutputBeyondTheLimitIsDropped) {
    rkt::SpawnOptions opts;
    opts.capture_stdout = true;
    opts.output_limit = 1000;
    auto child = rkt::ChildProcess::spawn({"/bin/sh", "-c", "head -c 500000 /dev/zero"}, opts);
    EXPECT_EQ(child.wait_for(30s), std::optional<int>(0));
    EXPECT_EQ(child.output().size(), 1000u);
    EXPECT_TRUE(child.output_truncated());

    auto small = rkt::ChildProcess::spawn({"/bin/sh", "-c", "printf abc"}, opts);
    EXPECT_EQ(small.wait(), 0);
    EXPECT_EQ(small.output(), "abc");
    EXPECT_FALSE(small.output_truncated());
}

TEST(Process, GroupOfAnEndedChildIsKilled) {
    auto child = rkt::ChildProcess::spawn({"/bin/sh", "-c", "sleep 1000 & echo $!; exit 3"},
                                          group_capturing());
    EXPECT_EQ(child.wait_for(30s), std::optional<int>(3));
    pid_t grandchild = std::stoi(child.output());
    for (int i = 0; i < 1000 && !process_ended(grandchild); ++i) ::usleep(1000);
    EXPECT_TRUE(process_ended(grandchild));

    auto waited =
        rkt::ChildProcess::spawn({"/bin/sh", "-c", "sleep 1000 & echo $!"}, group_capturing());
    EXPECT_EQ(waited.wait(), 0);  // would block on the sleeper's copy of the pipe otherwise
    grandchild = std::stoi(waited.output());
    for (int i = 0; i < 1000 && !process_ended(grandchild); ++i) ::usleep(1000);
    EXPECT_TRUE(process_ended(grandchild));
}

TEST(Process, KillSignalsTheWholeGroup) {
    auto child = rkt::ChildProcess::spawn({"/bin/sh", "-c", "sleep 1000 & echo $!; wait"},
                                          group_capturing());
    std::string out;
    for (int i = 0; i < 100 && child.output().find('\n') == std::string::npos; ++i)
        child.wait_for(10ms);
    ASSERT_NE(child.output().find('\n'), std::string::npos);
    pid_t grandchild = std::stoi(child.output());
    child.kill(SIGKILL);
    EXPECT_EQ(child.wait_for(30s), std::optional<int>(128 + SIGKILL));
    for (int i = 0; i < 1000 && !process_ended(grandchild); ++i) ::usleep(1000);
    EXPECT_TRUE(process_ended(grandchild));
}

TEST(Process, WaitForDoesNotWaitOnAnEscapedHolderOfThePipe) {
    // The grandchild leaves the group (setsid) and keeps the output pipe open for 3 s; the child
    // ends once it has left (the fifo), so killing the group misses it.
    char dir_template[] = "/tmp/rkt-process-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    std::string fifo = std::string(dir_template) + "/left";
    auto child = rkt::ChildProcess::spawn(
        {"/bin/sh", "-c",
         "mkfifo " + fifo + "; setsid sh -c 'echo $$; echo > " + fifo +
             "; exec sleep 3' & read x < " + fifo + "; rm " + fifo + "; exit 0"},
        group_capturing());
    EXPECT_EQ(child.wait_for(500ms), std::optional<int>(0));
    ::rmdir(dir_template);
    ASSERT_FALSE(child.output().empty());
    pid_t holder = std::stoi(child.output());
    EXPECT_FALSE(process_ended(holder)) << "wait_for waited for the pipe's end of file";
    ::kill(holder, SIGKILL);
}
