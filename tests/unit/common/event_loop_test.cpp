#include "common/event_loop.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/io.h"

namespace {

using rkt::EventLoop;

void make_readable(const rkt::io::Pipe& pipe) {
    ASSERT_TRUE(rkt::io::try_write_all(pipe.write.get(), "x"));
}

}  // namespace

TEST(EventLoop, EachReadyDescriptorGoesToItsOwnHandler) {
    EventLoop loop;
    auto a = rkt::io::make_pipe(), b = rkt::io::make_pipe();
    std::vector<char> seen;
    loop.add(a.read.get(), EPOLLIN, [&](uint32_t events) {
        EXPECT_TRUE(events & EPOLLIN);
        seen.push_back('a');
    });
    loop.add(b.read.get(), EPOLLIN, [&](uint32_t) { seen.push_back('b'); });
    EXPECT_EQ(loop.run_once(0), 0);
    make_readable(b);
    EXPECT_EQ(loop.run_once(5000), 1);
    EXPECT_EQ(seen, std::vector<char>{'b'});
    // Level-triggered: still readable, so dispatched again.
    EXPECT_EQ(loop.run_once(5000), 1);
    EXPECT_EQ(seen.size(), 2u);
}

TEST(EventLoop, ModifyChangesWhatIsWaitedFor) {
    EventLoop loop;
    auto p = rkt::io::make_pipe();
    int writable = 0;
    loop.add(p.write.get(), 0, [&](uint32_t events) {
        if (events & EPOLLOUT) ++writable;
    });
    EXPECT_EQ(loop.run_once(0), 0);
    loop.modify(p.write.get(), EPOLLOUT);
    EXPECT_EQ(loop.run_once(5000), 1);
    EXPECT_EQ(writable, 1);
}

TEST(EventLoop, ADescriptorSubscribesOnceAndOnlySubscribedOnesChange) {
    EventLoop loop;
    auto p = rkt::io::make_pipe();
    loop.add(p.read.get(), EPOLLIN, [](uint32_t) {});
    EXPECT_TRUE(loop.subscribed(p.read.get()));
    EXPECT_THROW(loop.add(p.read.get(), EPOLLIN, [](uint32_t) {}), rkt::Error);
    EXPECT_THROW(loop.modify(p.write.get(), EPOLLOUT), rkt::Error);
    loop.remove(p.read.get());
    loop.remove(p.read.get());  // twice is harmless
    EXPECT_FALSE(loop.subscribed(p.read.get()));
    EXPECT_THROW(loop.modify(p.read.get(), EPOLLIN), rkt::Error);
}

// A handler that drops another descriptor, whose number a new one takes at once: the event
// waiting for the old one must reach neither the old handler nor the new.
TEST(EventLoop, ARemovedDescriptorsWaitingEventIsDroppedEvenWhenItsNumberIsReused) {
    EventLoop loop;
    auto first = rkt::io::make_pipe();
    auto second = rkt::io::make_pipe();
    auto replacement = rkt::io::make_pipe();
    int old_calls = 0, new_calls = 0;
    // epoll reports ready descriptors in the order they became ready: `first` comes first.
    loop.add(first.read.get(), EPOLLIN, [&](uint32_t) {
        int number = second.read.get();
        loop.remove(number);
        second = rkt::io::Pipe{};
        // The replacement's read end moves to the freed number.
        ASSERT_EQ(::dup3(replacement.read.get(), number, O_CLOEXEC), number);
        replacement.read.reset(number);
        loop.add(number, EPOLLIN, [&](uint32_t) { ++new_calls; });
        loop.remove(first.read.get());
    });
    loop.add(second.read.get(), EPOLLIN, [&](uint32_t) { ++old_calls; });
    make_readable(first);
    make_readable(second);
    make_readable(replacement);
    EXPECT_EQ(loop.run_once(5000), 1);
    EXPECT_EQ(old_calls, 0) << "a removed subscriber was called";
    EXPECT_EQ(new_calls, 0) << "the old descriptor's event reached the new subscriber";
    // The new subscriber gets its own events from the next round on.
    while (new_calls == 0 && loop.run_once(5000) > 0) {
    }
    EXPECT_EQ(new_calls, 1);
}

TEST(EventLoop, StopFromAHandlerEndsTheRoundAndTheLoop) {
    EventLoop loop;
    auto a = rkt::io::make_pipe(), b = rkt::io::make_pipe();
    int calls = 0;
    for (const auto* p : {&a, &b})
        loop.add(p->read.get(), EPOLLIN, [&](uint32_t) {
            ++calls;
            loop.stop();
        });
    make_readable(a);
    make_readable(b);
    loop.run();  // returns: the first handler stopped it
    EXPECT_TRUE(loop.stopped());
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(loop.run_once(0), 0);  // nothing is dispatched once stopped
    EXPECT_EQ(calls, 1);
}

TEST(EventLoop, StopFromAnotherThreadWakesTheWaitingOne) {
    EventLoop loop;
    auto start = std::chrono::steady_clock::now();
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        loop.stop();
    });
    // Not run(): a stop that failed to wake it would hang the test instead of failing it.
    loop.run_once(60'000);
    stopper.join();
    EXPECT_TRUE(loop.stopped());
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30))
        << "stop() did not wake the waiting thread; run_once waited out its timeout";
}
