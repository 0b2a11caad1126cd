#include "common/process.h"

#include <gtest/gtest.h>

#include "common/error.h"

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
