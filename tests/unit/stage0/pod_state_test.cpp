// Pod directories written by hand, read as `rkt status` and `rkt list` read them: why an app ended
// (status/<app>.reason), and the state a user who may not probe the pod's lock is shown.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/file_lock.h"
#include "common/fs.h"
#include "common/pod_manifest.h"
#include "stage0/commands/pod_info.h"
#include "stage0/pod/pod_dir.h"

namespace rkt::pod {
namespace {

constexpr const char* kUuid = "0f746094-3438-42bc-ab37-3cf85f132e60";
constexpr uid_t kNobody = 65534;

class PodStateTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (stdfs::temp_directory_path() / "rkt-pod-state-test-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        tmp_ = tmpl;
        ::chmod(tmp_.c_str(), 0755);
        data_ = tmp_ / "data";
        pod_ = data_ / "pods" / "run" / kUuid;
        stdfs::create_directories(pod_ / "status");
        PodManifest m;
        for (const char* name : {"web", "db"}) {
            RuntimeApp app;
            app.name = name;
            app.image = {"example.com/" + std::string(name) + ":latest",
                         "sha256-" + std::string(64, 'a')};
            m.apps.push_back(app);
        }
        fs::write_file(pod_ / "pod", m.serialize());
        fs::write_file(pod_ / "pod-created", "");
    }
    void TearDown() override {
        std::error_code ec;
        stdfs::remove_all(tmp_, ec);
    }
    Pod load() const { return PodStore(data_).resolve(kUuid); }

    // The state name `rkt list` shows to uid/gid 65534 with `groups` (a child process).
    std::string state_as_nobody(const std::vector<gid_t>& groups) {
        int fds[2];
        EXPECT_EQ(::pipe(fds), 0);
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(fds[0]);
            if (::setgroups(groups.size(), groups.data()) != 0 ||
                ::setresgid(kNobody, kNobody, kNobody) != 0 ||
                ::setresuid(kNobody, kNobody, kNobody) != 0)
                ::_exit(2);
            std::string name;
            try {
                auto pods = PodStore(data_).list();
                name = pods.size() == 1 ? state_name(pods[0].state())
                                        : "pods: " + std::to_string(pods.size());
            } catch (const std::exception& e) {
                name = std::string("error: ") + e.what();
            }
            [[maybe_unused]] auto n = ::write(fds[1], name.data(), name.size());
            ::_exit(0);
        }
        ::close(fds[1]);
        std::string out;
        char buf[256];
        ssize_t n;
        while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
        ::close(fds[0]);
        int status = 0;
        ::waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return out;
    }

    stdfs::path tmp_, data_, pod_;
};

TEST_F(PodStateTest, StatusShowsWhyAnAppEnded) {
    fs::write_file(pod_ / "status" / "web", "137");
    fs::write_file(pod_ / "status" / "web.reason", "oom-killed\n");
    fs::write_file(pod_ / "status" / "db", "0");
    Pod p = load();
    ASSERT_EQ(p.state(), State::kExited);
    std::string text = commands::status_text(p);
    EXPECT_NE(text.find("state=exited\n"), std::string::npos) << text;
    EXPECT_NE(text.find("exited=true\n"), std::string::npos) << text;
    // rkt's lines as they were, the reason after its app's code.
    EXPECT_NE(text.find("app-web=137\napp-web-reason=oom-killed\napp-db=0\n"), std::string::npos)
        << text;
    EXPECT_EQ(text.find("app-db-reason"), std::string::npos) << text;

    nlohmann::json j = commands::pod_to_json(p);
    ASSERT_EQ(j["apps"].size(), 2u);
    EXPECT_EQ(j["apps"][0]["name"], "web");
    EXPECT_EQ(j["apps"][0]["exit_code"], 137);
    EXPECT_EQ(j["apps"][0]["end_reason"], "oom-killed");
    EXPECT_FALSE(j["apps"][1].contains("end_reason"));
}

TEST_F(PodStateTest, OnlyAWordAStage1WritesIsShownAsAReason) {
    fs::write_file(pod_ / "status" / "web", "137");
    fs::write_file(pod_ / "status" / "web.reason", "oom killed\napp-db=0");
    std::string text = commands::status_text(load());
    EXPECT_EQ(text.find("reason"), std::string::npos) << text;
    EXPECT_EQ(text.find("app-db"), std::string::npos) << text;
}

TEST_F(PodStateTest, AStatusFileThatIsNotARegularFileIsIgnored) {
    // With --private-users the pod's root owns status/: a FIFO there must not hang `rkt status`.
    ASSERT_EQ(::mkfifo((pod_ / "status" / "web").c_str(), 0644), 0);
    stdfs::create_symlink("/etc/hostname", pod_ / "status" / "db");
    Pod p = load();
    EXPECT_TRUE(p.app_exit_codes().empty());
}

TEST_F(PodStateTest, AReaderWhoMayNotProbeTheLockIsToldSo) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
    FileLock alive = FileLock::acquire(pod_, FileLock::Mode::kExclusive);
    EXPECT_EQ(load().state(), State::kRunning);
    // A pod directory its group may not read (made before the data directory had a group).
    ASSERT_EQ(::chmod(pod_.c_str(), 0750), 0);
    EXPECT_EQ(state_as_nobody({}), "unknown (not permitted)");
    std::string text = commands::status_text(load());
    EXPECT_NE(text.find("state=running"), std::string::npos);

    // A member of the pod directory's group probes it as root does.
    ASSERT_EQ(::chown(pod_.c_str(), 0, kNobody), 0);
    EXPECT_EQ(state_as_nobody({kNobody}), "running");
    alive = FileLock();
    EXPECT_EQ(state_as_nobody({kNobody}), "exited");
}

}  // namespace
}  // namespace rkt::pod
