#include "stage1-kvm/pod_plan.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/verity_info.h"

namespace rkt::kvm {
namespace {

namespace fs = std::filesystem;

class PodPlanTest : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() /
                ("rkt-kvm-plan-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
        pod_ = root_ / "pods" / "run" / kUuid;
        fs::create_directories(pod_);
        images_ = root_ / "images";
        fs::create_directories(images_);
        host_etc_ = root_ / "etc";
        fs::create_directories(host_etc_);
    }
    void TearDown() override { fs::remove_all(root_); }

    static VerityInfo verity_of(const std::string& name) {
        VerityInfo v;
        v.data_blocks = 1;
        v.hash_offset = 4096;
        v.salt = std::string(64, 'a');
        v.root_hash = std::string(63, 'b') + (name.size() % 2 ? "1" : "2");
        return v;
    }

    // An app whose erofs image (an empty file is enough here) and tree are linked as stage0 does.
    RuntimeApp add_app(const std::string& name, std::vector<std::string> exec = {"/inspect"}) {
        fs::path info = pod_ / "appsinfo" / name;
        fs::create_directories(info);
        fs::path image = images_ / (name + ".img");
        // One data block and no tree: the smallest disk dm-verity takes.
        std::ofstream(image) << std::string(4096, 'e');
        fs::create_symlink(image, info / "image.erofs");
        std::ofstream(info / "image.verity") << to_json(verity_of(name));
        fs::path tree = images_ / (name + "-tree");
        fs::create_directories(tree / "etc");
        std::ofstream(tree / "etc" / "passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                                  "user:x:1000:1000::/home/user:/bin/sh\n";
        fs::create_directory_symlink(tree, info / "rootfs");
        RuntimeApp app;
        app.name = name;
        app.app.exec = std::move(exec);
        app.app.environment = {{"VAR", "value"}};
        return app;
    }

    PodPlan plan(const PodManifest& m, RunOptions o = {}) {
        PlanInputs in;
        in.manifest = &m;
        in.options = std::move(o);
        in.uuid = kUuid;
        in.pod_dir = pod_;
        in.host_etc = host_etc_;
        in.host_cpus = 4;
        return plan_pod(in);
    }

    static std::string error_of(const std::function<void()>& f) {
        try {
            f();
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    }

    static constexpr const char* kUuid = "4b1c2d3e-0000-4000-8000-000000000001";
    fs::path root_, pod_, images_, host_etc_;
};

TEST_F(PodPlanTest, OneAppWithDefaults) {
    PodManifest m;
    m.apps.push_back(add_app("web"));
    PodPlan p = plan(m);
    EXPECT_EQ(p.spec.hostname, std::string("rkt-") + kUuid);
    ASSERT_EQ(p.spec.apps.size(), 1u);
    const auto& app = p.spec.apps[0];
    EXPECT_EQ(app.exec, std::vector<std::string>{"/inspect"});
    EXPECT_EQ(app.disk, 0u);
    EXPECT_EQ(app.disk_serial, "rkt-app-0");
    ASSERT_TRUE(app.verity);  // from appsinfo/<app>/image.verity
    EXPECT_EQ(app.verity->data_blocks, 1u);
    EXPECT_EQ(app.verity->hash_start_block, 1u);
    EXPECT_EQ(app.verity->salt, std::string(64, 'a'));
    EXPECT_EQ(app.working_dir, "/");
    EXPECT_EQ(app.user, "0");
    std::vector<std::string> env(app.env.begin(), app.env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "VAR=value"), env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "HOME=/root"), env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "AC_APP_NAME=web"), env.end());
    EXPECT_TRUE(
        std::any_of(env.begin(), env.end(), [](auto& e) { return e.rfind("PATH=", 0) == 0; }));
    // The default isolation: 14 capabilities, Docker's seccomp allow-list, masked paths.
    ASSERT_TRUE(app.isolation.capabilities.has_value());
    EXPECT_EQ(app.isolation.capabilities->size(), 14u);
    ASSERT_TRUE(app.isolation.seccomp.has_value());
    EXPECT_EQ(app.isolation.seccomp->mode, guest::SeccompSettings::Mode::kRetain);
    EXPECT_TRUE(app.isolation.masked_paths);
    EXPECT_TRUE(app.isolation.no_new_privileges);
    ASSERT_EQ(p.disks.size(), 1u);
    EXPECT_EQ(p.disks[0].serial, "rkt-app-0");
    EXPECT_EQ(p.disks[0].image, fs::canonical(images_ / "web.img"));
    EXPECT_EQ(p.size.memory_mib, kBaseMemoryMib);
    EXPECT_EQ(p.size.vcpus, 1u);
}

TEST_F(PodPlanTest, EachAppGetsItsLimitsFromItsIsolators) {
    PodManifest m;
    RuntimeApp limited = add_app("limited");
    limited.app.set_isolator("resource/memory", {{"limit", "64Mi"}});
    limited.app.set_isolator("resource/cpu", {{"limit", "500m"}});
    limited.app.set_isolator("resource/cpu-shares", {{"value", 512}});
    limited.app.set_isolator("resource/pids", {{"limit", "100"}});
    m.apps.push_back(limited);
    m.apps.push_back(add_app("plain"));
    RuntimeApp unlimited = add_app("unlimited");
    unlimited.app.set_isolator("resource/pids", {{"limit", "max"}});
    unlimited.app.set_isolator("resource/cpu", {{"limit", "5000"}});  // more than 1000 CPUs
    m.apps.push_back(unlimited);
    PodPlan p = plan(m);
    const auto& lim = p.spec.apps[0].limits;
    EXPECT_EQ(lim.memory_bytes, uint64_t{64} << 20);
    EXPECT_EQ(lim.cpu_millis, 500u);
    EXPECT_EQ(lim.cpu_weight, 20u);  // shares 512 as cgroup v2's weight, as systemd maps them
    EXPECT_EQ(lim.pids_max, 100u);
    // No isolator: no limit of its own, but the pids limit every app has by default.
    EXPECT_EQ(p.spec.apps[1].limits, (guest::AppLimits{{}, {}, {}, 4096}));
    EXPECT_EQ(p.spec.apps[2].limits.pids_max, std::nullopt);
    EXPECT_EQ(p.spec.apps[2].limits.cpu_millis, guest::kMaxCpuMillis);
}

TEST_F(PodPlanTest, InsecureOptionsLiftTheIsolation) {
    PodManifest m;
    m.apps.push_back(add_app("web"));
    RunOptions o;
    o.insecure_options = {"image", "capabilities", "seccomp", "paths"};
    PodPlan p = plan(m, o);
    const auto& iso = p.spec.apps[0].isolation;
    EXPECT_FALSE(iso.capabilities.has_value());
    EXPECT_FALSE(iso.seccomp.has_value());
    EXPECT_FALSE(iso.masked_paths);
}

TEST_F(PodPlanTest, UserFromTheImageGivesHome) {
    PodManifest m;
    RuntimeApp app = add_app("web");
    app.app.user = "user";
    app.app.group = "1000";
    app.app.working_directory = "/srv";
    m.apps.push_back(app);
    PodPlan p = plan(m);
    const auto& g = p.spec.apps[0];
    EXPECT_EQ(g.user, "user");
    EXPECT_EQ(g.group, "1000");
    EXPECT_EQ(g.working_dir, "/srv");
    EXPECT_NE(std::find(g.env.begin(), g.env.end(), "HOME=/home/user"), g.env.end());
}

TEST_F(PodPlanTest, SeveralAppsGetTheirOwnDisks) {
    PodManifest m;
    m.apps.push_back(add_app("a"));
    m.apps.push_back(add_app("b"));
    PodPlan p = plan(m);
    ASSERT_EQ(p.disks.size(), 2u);
    EXPECT_EQ(p.spec.apps[1].disk, 1u);
    EXPECT_EQ(p.spec.apps[1].disk_serial, "rkt-app-1");
    EXPECT_EQ(p.disks[1].app, "b");
}

TEST_F(PodPlanTest, VolumesBecome9pSharesAndTmpfs) {
    fs::path src = root_ / "hostdir";
    fs::create_directories(src);
    PodManifest m;
    RuntimeApp app = add_app("web");
    app.mounts = {{"data", "/data"}, {"scratch", "/a/b/c"}};
    app.app.mount_points = {{"data", "/ignored", true}};
    m.apps.push_back(app);
    m.volumes = {Volume{"data", "host", src.string()}, Volume{"scratch", "empty"},
                 Volume{"unused", "host", "/this/directory/does/not/exist"}};
    PodPlan p = plan(m);
    ASSERT_EQ(p.shares.size(), 1u);
    EXPECT_EQ(p.shares[0].source, src);
    ASSERT_EQ(p.spec.volumes.size(), 2u);  // the unused one is not exported
    const auto& mounts = p.spec.apps[0].mounts;
    ASSERT_EQ(mounts.size(), 2u);
    EXPECT_EQ(mounts[0].path, "/data");
    EXPECT_TRUE(mounts[0].read_only);  // the image's mount point says so
    for (const auto& v : p.spec.volumes) {
        if (v.name == "data") {
            EXPECT_EQ(v.kind, guest::VolumeSpec::Kind::k9p);
            EXPECT_EQ(v.tag, p.shares[0].tag);
        } else {
            EXPECT_EQ(v.kind, guest::VolumeSpec::Kind::kEmpty);
        }
    }
}

TEST_F(PodPlanTest, EmptyVolumesCarryModeAndOwnerOncePerPod) {
    PodManifest m;
    RuntimeApp a = add_app("a");
    a.mounts = {{"shared", "/data"}, {"plain", "/plain"}};
    RuntimeApp b = add_app("b");
    b.mounts = {{"shared", "/elsewhere"}};
    m.apps = {a, b};
    Volume shared{"shared", "empty"};
    shared.mode = "0700";
    shared.uid = 1000;
    shared.gid = 1001;
    Volume plain{"plain", "empty"};
    plain.mode = "";  // none given: rkt's default
    m.volumes = {shared, plain};
    PodPlan p = plan(m);
    // One tmpfs per volume, which both apps mount: what one writes the other sees, as with
    // nspawn's one directory per volume.
    ASSERT_EQ(p.spec.volumes.size(), 2u);
    for (const auto& v : p.spec.volumes) {
        EXPECT_EQ(v.kind, guest::VolumeSpec::Kind::kEmpty);
        if (v.name == "shared") {
            EXPECT_EQ(v.mode, 0700u);
            EXPECT_EQ(v.uid, 1000u);
            EXPECT_EQ(v.gid, 1001u);
        } else {
            EXPECT_EQ(v.mode, 0755u);
            EXPECT_EQ(v.uid, 0u);
            EXPECT_EQ(v.gid, 0u);
        }
    }
    ASSERT_EQ(p.spec.apps[1].mounts.size(), 1u);
    EXPECT_EQ(p.spec.apps[1].mounts[0].volume, "shared");
    EXPECT_EQ(p.spec.apps[1].mounts[0].path, "/elsewhere");

    m.volumes[0].mode = "4777";  // setuid, setgid and sticky bits pass
    EXPECT_EQ(plan(m).spec.volumes[1].mode, 04777u);
}

TEST_F(PodPlanTest, BadEmptyVolumeFlagsAreRefusedAsNspawnRefusesThem) {
    PodManifest m;
    RuntimeApp app = add_app("web");
    app.mounts = {{"data", "/data"}};
    m.apps.push_back(app);
    Volume data{"data", "empty"};
    auto error_with = [&](auto change) {
        Volume v = data;
        change(v);
        m.volumes = {v};
        return error_of([&] { plan(m); });
    };
    EXPECT_EQ(error_with([](Volume& v) { v.mode = "0abc"; }),
              "volume \"data\": mode \"0abc\" is not an octal mode such as 0755");
    EXPECT_EQ(error_with([](Volume& v) { v.mode = "-755"; }),
              "volume \"data\": mode \"-755\" is not an octal mode such as 0755");
    EXPECT_EQ(error_with([](Volume& v) { v.mode = "17777"; }),
              "volume \"data\": mode \"17777\" is too large");
    EXPECT_EQ(error_with([](Volume& v) { v.mode = "777777777777777777777777"; }),
              "volume \"data\": mode \"777777777777777777777777\" is not an octal mode such as "
              "0755");
    EXPECT_NE(error_with([](Volume& v) { v.uid = UINT32_MAX; }).find("uid and gid"),
              std::string::npos);
    EXPECT_NE(error_with([](Volume& v) { v.gid = UINT32_MAX; }).find("uid and gid"),
              std::string::npos);
    EXPECT_NE(error_with([](Volume& v) { v.name = "Data"; }).find("volume name \"Data\""),
              std::string::npos);
    EXPECT_EQ(error_with([](Volume& v) { v.uid = UINT32_MAX - 1; }), "");

    // A volume no app mounts is checked all the same, as nspawn prepares every one.
    Volume unused{"unused", "empty"};
    unused.mode = "999";
    m.volumes = {data, unused};
    EXPECT_EQ(error_of([&] { plan(m); }),
              "volume \"unused\": mode \"999\" is not an octal mode such as 0755");
    m.volumes = {data, Volume{"odd", "tmpfs"}};
    EXPECT_NE(error_of([&] { plan(m); }).find("unknown kind \"tmpfs\""), std::string::npos);
}

TEST_F(PodPlanTest, BadInputIsRefusedWithTheReason) {
    PodManifest m;
    RuntimeApp app = add_app("web");
    app.mounts = {{"data", "/data"}};
    m.apps.push_back(app);
    m.volumes = {Volume{"data", "host", "/this/directory/does/not/exist"}};
    EXPECT_NE(error_of([&] { plan(m); }).find("/this/directory/does/not/exist"), std::string::npos);

    fs::path file = root_ / "a-file";
    std::ofstream(file) << "x";
    m.volumes = {Volume{"data", "host", file.string()}};
    EXPECT_NE(error_of([&] { plan(m); }).find("not a directory"), std::string::npos);

    m.volumes.clear();
    EXPECT_NE(error_of([&] { plan(m); }).find("does not define"), std::string::npos);

    PodManifest empty_exec;
    empty_exec.apps.push_back(add_app("noexec", {}));
    EXPECT_NE(error_of([&] { plan(empty_exec); }).find("--exec"), std::string::npos);

    PodManifest no_image;
    RuntimeApp ghost;
    ghost.name = "ghost";
    ghost.app.exec = {"/x"};
    no_image.apps.push_back(ghost);
    EXPECT_NE(error_of([&] { plan(no_image); }).find("image.erofs"), std::string::npos);

    // The disk's dm-verity parameters: missing (an older rkt's pod), hostile, or of another
    // disk (sizes that cannot match).
    PodManifest unverified;
    unverified.apps.push_back(add_app("unverified"));
    fs::remove(pod_ / "appsinfo" / "unverified" / "image.verity");
    EXPECT_NE(error_of([&] { plan(unverified); }).find("image.verity is missing"),
              std::string::npos);
    std::ofstream(pod_ / "appsinfo" / "unverified" / "image.verity") << "{\"version\": 2}";
    EXPECT_NE(error_of([&] { plan(unverified); }).find("dm-verity parameters"), std::string::npos);
    VerityInfo bigger = verity_of("unverified");
    bigger.data_blocks = 2;
    bigger.hash_offset = 8192;
    std::ofstream(pod_ / "appsinfo" / "unverified" / "image.verity") << to_json(bigger);
    EXPECT_NE(error_of([&] { plan(unverified); }).find("is not the one the pod was prepared with"),
              std::string::npos);

    PodManifest ok;
    ok.apps.push_back(add_app("ok"));
    RunOptions o;
    o.net = {"host"};
    EXPECT_NE(error_of([&] { plan(ok, o); }).find("--net=host"), std::string::npos);
    o = {};
    o.interactive = true;
    EXPECT_NE(error_of([&] { plan(ok, o); }).find("--interactive"), std::string::npos);
    o = {};
    o.hostname = "bad_host!";
    EXPECT_NE(error_of([&] { plan(ok, o); }).find("hostname"), std::string::npos);
}

TEST(VmSize, FromTheAppsLimits) {
    RunOptions o;
    EXPECT_EQ(vm_size(o, 2).memory_mib, kBaseMemoryMib);
    EXPECT_EQ(vm_size(o, 2).vcpus, 1u);
    o.memory = 64ull << 20;
    o.cpu_millis = 1500;
    EXPECT_EQ(vm_size(o, 8).memory_mib, kBaseMemoryMib + 64);
    EXPECT_EQ(vm_size(o, 8).vcpus, 2u);
    o.memory = (64ull << 20) + 1;  // rounded up to whole MiB
    EXPECT_EQ(vm_size(o, 8).memory_mib, kBaseMemoryMib + 65);
    o.cpu_millis = 64000;  // never more than the host has
    EXPECT_EQ(vm_size(o, 2).vcpus, 2u);
    o.memory = 2ull << 40;
    EXPECT_THROW(vm_size(o, 2), Error);
}

TEST(HostsEntries, GroupedByAddress) {
    auto e = hosts_entries({"10.0.0.1=a", "10.0.0.2=b", "10.0.0.1=c"}, "/nonexistent");
    ASSERT_EQ(e.size(), 2u);
    EXPECT_EQ(e[0].ip, "10.0.0.1");
    EXPECT_EQ(e[0].names, (std::vector<std::string>{"a", "c"}));
    EXPECT_THROW(hosts_entries({"nonsense"}, "/nonexistent"), Error);
    EXPECT_THROW(hosts_entries({"10.0.0.1=bad name"}, "/nonexistent"), Error);
    EXPECT_THROW(hosts_entries({"999.0.0.1=a"}, "/nonexistent"), Error);
}

TEST(HostsEntries, FromTheHostsFile) {
    auto file = fs::temp_directory_path() / ("rkt-hosts-" + std::to_string(::getpid()));
    std::ofstream(file) << "# comment\n127.0.0.1\tlocalhost  me # trailing\n\n::1 ip6-localhost\n"
                           "not-an-ip name\n10.1.1.1\n";
    auto e = hosts_entries({"host"}, file);
    fs::remove(file);
    ASSERT_EQ(e.size(), 2u);
    EXPECT_EQ(e[0].ip, "127.0.0.1");
    EXPECT_EQ(e[0].names, (std::vector<std::string>{"localhost", "me"}));
    EXPECT_EQ(e[1].ip, "::1");
}

RunOptions dns_flags(std::vector<std::string> dns, std::vector<std::string> search = {},
                     std::vector<std::string> options = {}, std::string domain = "") {
    RunOptions o;
    o.dns = std::move(dns);
    o.dns_search = std::move(search);
    o.dns_options = std::move(options);
    o.dns_domain = std::move(domain);
    return o;
}

TEST(DnsConfig, FromFlagsAndTheHost) {
    EXPECT_FALSE(dns_config(dns_flags({}), "/nonexistent").has_value());
    EXPECT_FALSE(dns_config(dns_flags({"none"}), "/nonexistent").has_value());
    auto d = dns_config(dns_flags({"10.0.0.2", "10.0.0.3"}), "/nonexistent");
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->nameservers.size(), 2u);
    EXPECT_THROW(dns_config(dns_flags({"example.com"}), "/nonexistent"), Error);
    auto file = fs::temp_directory_path() / ("rkt-resolv-" + std::to_string(::getpid()));
    std::ofstream(file) << "nameserver 10.9.9.9\nsearch a.example b.example\noptions ndots:2\n"
                           "domain corp.example\n";
    auto h = dns_config(dns_flags({"host"}), file);
    fs::remove(file);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->nameservers, std::vector<std::string>{"10.9.9.9"});
    EXPECT_EQ(h->search, (std::vector<std::string>{"a.example", "b.example"}));
    EXPECT_EQ(h->options, std::vector<std::string>{"ndots:2"});
    EXPECT_EQ(h->domain, "corp.example");
}

TEST(DnsConfig, SearchOptionsAndDomain) {
    auto d =
        dns_config(dns_flags({"10.0.0.2"}, {"a.example"}, {"ndots:2", "rotate"}, "example.com"),
                   "/nonexistent");
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(
        *d, (guest::DnsConfig{{"10.0.0.2"}, {"a.example"}, {"ndots:2", "rotate"}, "example.com"}));
    // Without --dns, rkt wrote a file of just the other lines.
    auto s = dns_config(dns_flags({}, {"corp.example"}), "/nonexistent");
    ASSERT_TRUE(s.has_value());
    EXPECT_TRUE(s->nameservers.empty());
    EXPECT_EQ(s->search, std::vector<std::string>{"corp.example"});
    // A network's DNS only when no flag says otherwise.
    ResolvConf net{{"172.16.28.1"}, {"pod.example"}, {}, ""};
    auto n = dns_config(dns_flags({}), "/nonexistent", net, "default");
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(n->nameservers, std::vector<std::string>{"172.16.28.1"});
    EXPECT_FALSE(dns_config(dns_flags({"none"}), "/nonexistent", net, "default").has_value());
    EXPECT_THROW(dns_config(dns_flags({}, {"bad domain"}), "/nonexistent"), Error);
    EXPECT_THROW(dns_config(dns_flags({"host"}, {"a.example"}), "/nonexistent"), Error);
}

}  // namespace
}  // namespace rkt::kvm
