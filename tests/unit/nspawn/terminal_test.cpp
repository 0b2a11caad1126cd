// The pieces `run` and `enter` use to give a pod process a terminal of its own and to copy
// between the pod and the host: a pty from a devpts (this machine's /dev/pts), raw mode that
// comes back, descriptor passing, and the copy loops' two directions.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/capped_log.h"
#include "common/error.h"
#include "common/fs.h"
#include "stage1-nspawn/pty.h"
#include "stage1-nspawn/relay.h"

namespace stdfs = std::filesystem;
using namespace rkt;
using namespace rkt::nspawn;

namespace {

std::pair<UniqueFd, UniqueFd> pipe_pair() {
    int fds[2] = {-1, -1};
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
}

Pty host_pty() {
    UniqueFd pts(::open("/dev/pts", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!pts) return {};
    return open_pty(pts.get());
}

}  // namespace

TEST(Pty, ANewTerminalOfADevptsPassesDataBothWays) {
    Pty p = host_pty();
    if (!p.master) GTEST_SKIP() << "no devpts at /dev/pts";
    ASSERT_TRUE(p.slave.valid());
    ASSERT_EQ(::write(p.master.get(), "hi\n", 3), 3);
    char buf[8] = {};
    ASSERT_EQ(::read(p.slave.get(), buf, sizeof buf), 3);
    EXPECT_STREQ(buf, "hi\n");
    EXPECT_TRUE(::isatty(p.slave.get()));
}

TEST(Pty, APtmxThatIsNotADevptsIsRefused) {
    char tmpl[] = "/tmp/rkt-fake-pts-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    stdfs::path dir = tmpl;
    std::ofstream(dir / "ptmx") << "";
    UniqueFd fd = fs::open_dir(dir);
    EXPECT_THROW(open_pty(fd.get()), Error);
    stdfs::remove(dir / "ptmx");
    ASSERT_EQ(::mkfifo((dir / "ptmx").c_str(), 0600), 0);
    EXPECT_THROW(open_pty(fd.get()), Error) << "a FIFO neither blocks nor passes";
    stdfs::remove(dir / "ptmx");
    stdfs::create_symlink("/dev/ptmx", dir / "ptmx");
    EXPECT_THROW(open_pty(fd.get()), Error) << "a symlink is not followed";
    stdfs::remove_all(dir);
}

TEST(RawTerminal, RawWhileItLivesAndRestoredAfter) {
    Pty p = host_pty();
    if (!p.master) GTEST_SKIP() << "no devpts at /dev/pts";
    termios before{};
    ASSERT_EQ(::tcgetattr(p.slave.get(), &before), 0);
    ASSERT_TRUE(before.c_lflag & ICANON);
    {
        RawTerminal raw(p.slave.get());
        termios now{};
        ASSERT_EQ(::tcgetattr(p.slave.get(), &now), 0);
        EXPECT_FALSE(now.c_lflag & (ICANON | ECHO));
    }
    termios after{};
    ASSERT_EQ(::tcgetattr(p.slave.get(), &after), 0);
    EXPECT_EQ(after.c_lflag, before.c_lflag);
    EXPECT_EQ(after.c_iflag, before.c_iflag);
    EXPECT_EQ(after.c_oflag, before.c_oflag);
    try {
        RawTerminal raw(p.slave.get());
        throw Error("on the way out");
    } catch (const Error&) {
    }
    ASSERT_EQ(::tcgetattr(p.slave.get(), &after), 0);
    EXPECT_EQ(after.c_lflag, before.c_lflag) << "restored when an exception passes too";
    auto [r, w] = pipe_pair();
    RawTerminal not_a_terminal(r.get());  // nothing to do, nothing to fail
}

TEST(FdPassing, ADescriptorCrossesASocket) {
    int pair[2] = {-1, -1};
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    UniqueFd a(pair[0]), b(pair[1]);
    auto [r, w] = pipe_pair();
    send_fd(a.get(), w.get());
    w.reset();
    UniqueFd got = receive_fd(b.get());
    ASSERT_TRUE(got.valid());
    ASSERT_EQ(::write(got.get(), "x", 1), 1);
    got.reset();
    EXPECT_EQ(read_all(r.get()), "x");
    a.reset();
    EXPECT_FALSE(receive_fd(b.get()).valid()) << "end of file: no descriptor";
}

TEST(Relay, OutboundCopiesToTheHostAndTheLogUntilEndOfFile) {
    char tmpl[] = "/tmp/rkt-relay-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    stdfs::path dir = tmpl;
    CappedLog log = CappedLog::open(dir / "app.log", 1024);
    auto [from_r, from_w] = pipe_pair();
    auto [to_r, to_w] = pipe_pair();
    Outbound out(from_r.get(), to_w.get(), &log);
    EXPECT_FALSE(out.copy_available()) << "nothing yet, and no blocking";
    ASSERT_EQ(::write(from_w.get(), "hello", 5), 5);
    EXPECT_TRUE(out.copy_available());
    from_w.reset();
    out.drain();
    EXPECT_FALSE(out.open());
    to_w.reset();
    EXPECT_EQ(read_all(to_r.get()), "hello");
    EXPECT_EQ(fs::read_file(dir / "app.log"), "hello");
    stdfs::remove_all(dir);
}

TEST(Relay, OutboundNoticesAHostReaderThatWentAway) {
    std::signal(SIGPIPE, SIG_IGN);
    auto [from_r, from_w] = pipe_pair();
    auto [to_r, to_w] = pipe_pair();
    to_r.reset();
    Outbound out(from_r.get(), to_w.get());
    ASSERT_EQ(::write(from_w.get(), "x", 1), 1);
    out.copy_available();
    EXPECT_TRUE(out.host_gone());
    EXPECT_TRUE(out.open()) << "the owner decides what to do with the pod's side";
}

TEST(Relay, InboundNeverBlocksOnAPodThatDoesNotRead) {
    auto [in_r, in_w] = pipe_pair();    // the host's stdin
    auto [pod_r, pod_w] = pipe_pair();  // the app's stdin
    ::fcntl(pod_w.get(), F_SETPIPE_SZ, 4096);
    int pod_read_end = pod_r.get();
    Inbound inbound(in_r.get(), std::move(pod_w));
    std::string chunk(3000, 'a');
    for (int i = 0; i < 4; ++i) {
        ASSERT_EQ(::write(in_w.get(), chunk.data(), chunk.size()), 3000);
        pollfd p = inbound.poll_entry();
        ASSERT_EQ(::poll(&p, 1, 0) >= 0, true);
        inbound.ready(p.revents ? p.revents : POLLIN);  // returns at once, whatever is full
    }
    EXPECT_TRUE(inbound.open());
    in_w.reset();
    // The app reads: what was pending goes on, then end of file reaches it.
    std::string got;
    for (int i = 0; i < 100 && inbound.open(); ++i) {
        char buf[8192];
        ssize_t n = ::read(pod_read_end, buf, sizeof buf);
        if (n > 0) got.append(buf, static_cast<size_t>(n));
        pollfd p = inbound.poll_entry();
        if (::poll(&p, 1, 100) > 0) inbound.ready(p.revents);
    }
    EXPECT_FALSE(inbound.open());
    got += read_all(pod_read_end);
    EXPECT_GE(got.size(), 4096u);
    EXPECT_EQ(got.find_first_not_of('a'), std::string::npos);
}
