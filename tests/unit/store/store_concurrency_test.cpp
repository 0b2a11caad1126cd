// Several processes on one store, processes killed mid-import, gc next to live images, and the
// fetcher's blob plumbing (resumable BlobWriter, register_image).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/error.h"
#include "common/file_lock.h"
#include "store_test_util.h"

namespace rkt::store::testing {
namespace {

class ConcurrencyTest : public StoreTest {
protected:
    // Runs `fn` in a child process; returns its pid. The child exits 0 when fn returns, 1 when
    // it throws (printing the error).
    template <typename Fn>
    pid_t fork_child(Fn fn) {
        pid_t pid = ::fork();
        if (pid == 0) {
            int rc = 0;
            try {
                fn();
            } catch (const std::exception& e) {
                fprintf(stderr, "child: %s\n", e.what());
                rc = 1;
            }
            ::_exit(rc);
        }
        return pid;
    }
    static int wait_exit(pid_t pid) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
};

TEST_F(ConcurrencyTest, TwoProcessesImportingOneImageEndWithOneImage) {
    stdfs::path layout = tmp_ / "same";
    std::vector<TarEntry> big;
    for (int i = 0; i < 200; ++i)
        big.push_back(file("f/" + std::to_string(i), std::string(4096, 'a' + i % 26)));
    std::string id = write_simple_layout(layout, {big, {file("top", "t")}});
    std::vector<pid_t> children;
    for (int i = 0; i < 3; ++i)
        children.push_back(fork_child([&] { open_store()->import_oci_layout(layout, "", ""); }));
    for (pid_t pid : children) EXPECT_EQ(wait_exit(pid), 0);
    auto store = open_store();
    auto images = store->list();
    ASSERT_EQ(images.size(), 1u);
    EXPECT_EQ(images[0].id, id);
    EXPECT_EQ(trees(), std::set<std::string>{id});
    EXPECT_TRUE(tmp_entries().empty());
    EXPECT_TRUE(store->verify().empty());
    EXPECT_EQ(read_file(store->render_tree(id) / "top"), "t");
}

TEST_F(ConcurrencyTest, ManyProcessesCreatingTheStoreAtOnce) {
    // Switching a new index to WAL from several processes at once used to fail at random.
    for (int round = 0; round < 50; ++round) {
        data_ = tmp_ / ("fresh" + std::to_string(round));
        std::vector<pid_t> children;
        for (int i = 0; i < 6; ++i) children.push_back(fork_child([&] { open_store()->list(); }));
        for (pid_t pid : children) ASSERT_EQ(wait_exit(pid), 0) << "round " << round;
    }
}

TEST_F(ConcurrencyTest, TwoProcessesRenderingOneImageEndWithOneTree) {
    stdfs::path layout = tmp_ / "r";
    std::string id = write_simple_layout(layout, {{file("a", "1")}, {file("b", "2")}});
    {
        auto store = open_store();
        store->import_oci_layout(layout, "", "");
        // Drop the tree so that the next render_tree calls have work to do.
        stdfs::remove_all(cas() / "tree" / id);
    }
    std::vector<pid_t> children;
    for (int i = 0; i < 3; ++i)
        children.push_back(fork_child([&] {
            auto root = open_store()->render_tree(id);
            if (read_file(root / "b") != "2") throw std::runtime_error("wrong tree");
        }));
    for (pid_t pid : children) EXPECT_EQ(wait_exit(pid), 0);
    EXPECT_EQ(trees(), std::set<std::string>{id});
    EXPECT_TRUE(tmp_entries().empty());
}

// The child imports a layout whose second layer is a FIFO this test feeds; it is killed while
// it waits for more of the layer. What it leaves must be tmp/ debris only, cleaned on open.
TEST_F(ConcurrencyTest, KillDuringImportLeavesNothingVisible) {
    stdfs::path layout = tmp_ / "fifo";
    LayoutWriter w(layout);
    auto first = make_layer({file("base", std::string(100000, 'b'))});
    std::string stream = make_tar({file("huge", std::string(4 << 20, 'h'))});
    LayerBlob second{"", sha256_digest_of("a layer that never ends"),
                     "application/vnd.oci.image.layer.v1.tar"};
    // Descriptor of a 1 GiB layer whose bytes arrive through a FIFO.
    nlohmann::json config = make_config({first.diff_id, second.diff_id});
    std::string config_bytes = config.dump();
    w.add_blob(config_bytes);
    w.add_blob(first.bytes);
    std::string fake_digest = sha256_digest_of("a layer that never ends");
    nlohmann::json manifest = {
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
        {"config", descriptor("application/vnd.oci.image.config.v1+json", config_bytes)},
        {"layers",
         {descriptor(first.media_type, first.bytes),
          {{"mediaType", second.media_type}, {"digest", fake_digest}, {"size", 1ull << 30}}}}};
    std::string manifest_bytes = manifest.dump();
    w.add_blob(manifest_bytes);
    w.write_index({descriptor("application/vnd.oci.image.manifest.v1+json", manifest_bytes)});
    stdfs::path fifo = layout / "blobs/sha256" / fake_digest.substr(7);
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);

    auto before = open_store()->list();
    pid_t child = fork_child([&] { open_store()->import_oci_layout(layout, "", ""); });

    // Open the FIFO once the child reads it (polling, so a child that failed early cannot hang
    // the test), then push most of the stream: the write returns once the child consumed it.
    int fd = -1;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (fd < 0) {
        fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) break;
        ASSERT_EQ(errno, ENXIO);
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, WNOHANG), 0) << "the importing child exited early";
        ASSERT_LT(std::chrono::steady_clock::now(), deadline);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(::fcntl(fd, F_SETFL, 0), 0);  // blocking writes from here on
    size_t half = stream.size() / 2;
    ASSERT_EQ(::write(fd, stream.data(), half), static_cast<ssize_t>(half));

    ASSERT_EQ(::kill(child, SIGKILL), 0);
    EXPECT_EQ(wait_exit(child), 128 + SIGKILL);
    ::close(fd);
    EXPECT_FALSE(tmp_entries().empty());  // it was mid-import: its staging dir is there
    EXPECT_TRUE(blobs().empty());
    EXPECT_TRUE(trees().empty());

    auto store = open_store();  // cleans tmp/
    EXPECT_TRUE(tmp_entries().empty());
    EXPECT_TRUE(tmp_locks().empty());
    EXPECT_EQ(store->list().size(), before.size());
    EXPECT_TRUE(blobs().empty());
    EXPECT_TRUE(trees().empty());
    EXPECT_TRUE(store->verify().empty());
}

TEST_F(ConcurrencyTest, GcNeverRemovesImagesInUse) {
    std::vector<TarEntry> base = {file("base", "shared")};
    stdfs::path la = tmp_ / "a", lb = tmp_ / "b";
    std::string a = write_simple_layout(la, {base, {file("who", "a")}});
    std::string b = write_simple_layout(lb, {base, {file("who", "b")}});
    auto store = open_store();
    store->import_oci_layout(la, "", "");
    store->import_oci_layout(lb, "", "");
    auto blobs_of = [&](const std::string& id) {
        nlohmann::json m = nlohmann::json::parse(store->manifest_json(id));
        std::set<std::string> out{id.substr(7), m["config"]["digest"].get<std::string>().substr(7)};
        for (const auto& l : m["layers"]) out.insert(l["digest"].get<std::string>().substr(7));
        return out;
    };
    std::set<std::string> a_blobs = blobs_of(a);
    std::set<std::string> b_blobs = blobs_of(b);

    EXPECT_TRUE(store->gc(std::chrono::hours(1), {}).empty());  // both used recently
    EXPECT_EQ(store->list().size(), 2u);

    auto removed = store->gc(std::chrono::milliseconds(0), {a});
    EXPECT_EQ(removed, std::vector<std::string>{b});
    auto images = store->list();
    ASSERT_EQ(images.size(), 1u);
    EXPECT_EQ(images[0].id, a);
    EXPECT_EQ(blobs(), a_blobs);  // b's own blobs gone, the shared base layer kept
    for (const auto& h : b_blobs) {
        if (!a_blobs.count(h)) {
            EXPECT_FALSE(exists_nofollow(cas() / "blobs/sha256" / h));
        }
    }
    EXPECT_EQ(trees(), std::set<std::string>{a});
    EXPECT_EQ(read_file(store->render_tree(a) / "who"), "a");
    EXPECT_TRUE(store->verify().empty());

    // in_use also accepts the digest form.
    EXPECT_TRUE(store->gc(std::chrono::milliseconds(0), {"sha256:" + a.substr(7)}).empty());
    EXPECT_EQ(store->gc(std::chrono::milliseconds(0), {}), std::vector<std::string>{a});
    EXPECT_TRUE(blobs().empty());
    EXPECT_TRUE(trees().empty());
}

TEST_F(ConcurrencyTest, GcSkipsImagesAnotherProcessIsRendering) {
    stdfs::path layout = tmp_ / "busy";
    std::string id = write_simple_layout(layout, {{file("a", "1")}});
    auto store = open_store();
    store->import_oci_layout(layout, "", "");
    // Another process holds the image's lock, as a render or an import does.
    stdfs::path lock = cas() / "locks" / ("image-" + id.substr(7) + ".lock");
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t holder = fork_child([&] {
        FileLock held = FileLock::acquire(lock, FileLock::Mode::kExclusive);
        if (::write(ready[1], "x", 1) != 1) throw std::runtime_error("pipe");
        pause();
    });
    char c;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    EXPECT_TRUE(store->gc(std::chrono::milliseconds(0), {}).empty());
    EXPECT_EQ(store->list().size(), 1u);
    EXPECT_EQ(trees(), std::set<std::string>{id});
    ::kill(holder, SIGKILL);
    wait_exit(holder);
    ::close(ready[0]);
    ::close(ready[1]);
    EXPECT_EQ(store->gc(std::chrono::milliseconds(0), {}), std::vector<std::string>{id});
}

TEST_F(ConcurrencyTest, GcRemovesOrphansButNotWorkInProgress) {
    auto store = open_store();
    // An orphan tree and blob (as a process killed between publishing and indexing leaves).
    std::string orphan = "sha256-" + std::string(64, 'e');
    stdfs::create_directories(cas() / "tree" / orphan / "rootfs");
    write_file(cas() / "blobs/sha256" / std::string(64, 'f'), "orphan");
    // A tmp entry whose owner is alive (we hold its lock): gc must leave it.
    write_file(cas() / "tmp" / "import-live", "");
    FileLock live =
        FileLock::acquire(cas() / "locks" / "tmp-import-live.lock", FileLock::Mode::kExclusive);
    // And one whose owner is gone.
    stdfs::create_directories(cas() / "tmp" / "import-dead" / "deep" / "er");
    store->gc(std::chrono::milliseconds(0), {});
    EXPECT_TRUE(trees().empty());
    EXPECT_TRUE(blobs().empty());
    EXPECT_EQ(tmp_entries(), std::set<std::string>{"import-live"});
}

TEST_F(ConcurrencyTest, BlobGcWaitsForImportLeases) {
    auto store = open_store();
    write_file(cas() / "blobs/sha256" / std::string(64, 'f'), "not yet referenced");
    // A fetch in progress in another process holds the blob lease.
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t holder = fork_child([&] {
        FileLock lease = FileLock::acquire(cas() / "locks/blobs.lock", FileLock::Mode::kShared);
        if (::write(ready[1], "x", 1) != 1) throw std::runtime_error("pipe");
        pause();
    });
    char c;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    ::close(ready[1]);
    store->gc(std::chrono::milliseconds(0), {});
    EXPECT_EQ(blobs().size(), 1u);
    ::kill(holder, SIGKILL);
    wait_exit(holder);
    store->gc(std::chrono::milliseconds(0), {});
    EXPECT_TRUE(blobs().empty());
}

TEST_F(ConcurrencyTest, BlobWriterResumesAndVerifies) {
    std::string data(300000, 'q');
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
    std::string digest = sha256_digest_of(data);
    auto store = open_store();
    EXPECT_FALSE(store->has_blob(digest));
    {
        auto w = store->begin_blob(digest, data.size());
        EXPECT_EQ(w->resume_offset(), 0u);
        EXPECT_FALSE(w->already_present());
        w->write(data.data(), 100000);
    }  // dropped without commit: the partial file stays for a later writer
    EXPECT_EQ(tmp_entries(), std::set<std::string>{"blob-" + digest.substr(7) + ".partial"});
    {
        auto reopened = open_store();  // a young partial survives the tmp cleanup
        auto w = reopened->begin_blob(digest, data.size());
        ASSERT_EQ(w->resume_offset(), 100000u);
        w->write(data.data() + 100000, data.size() - 100000);
        w->commit();
    }
    EXPECT_TRUE(store->has_blob(digest));
    EXPECT_EQ(read_file(cas() / "blobs/sha256" / digest.substr(7)), data);
    EXPECT_TRUE(tmp_entries().empty());
    EXPECT_TRUE(tmp_locks().empty());
    EXPECT_TRUE(store->begin_blob(digest, data.size())->already_present());

    // Two writers of one digest at once: the second writes a private file, and never waits.
    std::string twin = "written twice at once";
    std::string twin_digest = sha256_digest_of(twin);
    {
        auto first = store->begin_blob(twin_digest, twin.size());
        first->write(twin.data(), 5);
        auto second = store->begin_blob(twin_digest, twin.size());
        EXPECT_EQ(second->resume_offset(), 0u);
        second->write(twin.data(), twin.size());
        second->commit();
        first->write(twin.data() + 5, twin.size() - 5);
        first->commit();
    }
    EXPECT_EQ(read_file(cas() / "blobs/sha256" / twin_digest.substr(7)), twin);
    EXPECT_TRUE(tmp_entries().empty());
    EXPECT_TRUE(tmp_locks().empty());

    // restart() discards what was there.
    std::string other = "other blob";
    std::string other_digest = sha256_digest_of(other);
    {
        auto w = store->begin_blob(other_digest, other.size());
        w->write("garbage", 7);
        w->restart();
        EXPECT_EQ(w->resume_offset(), 0u);
        w->write(other.data(), other.size());
        w->commit();
    }
    EXPECT_TRUE(store->has_blob(other_digest));

    // Wrong content or size: refused, and nothing left behind.
    std::string liar = sha256_digest_of("expected");
    {
        auto w = store->begin_blob(liar, 8);
        w->write("unexpect", 8);
        EXPECT_ERROR_CONTAINS(w->commit(), "digest mismatch");
    }
    {
        auto w = store->begin_blob(liar, 8);
        EXPECT_EQ(w->resume_offset(), 0u);
        EXPECT_ERROR_CONTAINS(w->write("too much data", 13), "more data than the 8 bytes");
    }
    {
        auto w = store->begin_blob(liar, 8);
        w->write("expe", 4);
        EXPECT_ERROR_CONTAINS(w->commit(), "got 4 bytes, expected 8");
    }
    EXPECT_FALSE(store->has_blob(liar));
    EXPECT_TRUE(tmp_entries().empty());
    EXPECT_ERROR_CONTAINS(store->begin_blob("sha256:xyz", std::nullopt), "malformed digest");
}

TEST_F(ConcurrencyTest, RegisterImageFromFetchedBlobsThenRender) {
    auto layer = make_layer({file("fetched", "yes")}, TarCompression::kZstd);
    std::string config = make_config({layer.diff_id}).dump();
    nlohmann::json manifest = {
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
        {"config", descriptor("application/vnd.oci.image.config.v1+json", config)},
        {"layers", {descriptor(layer.media_type, layer.bytes)}}};
    std::string manifest_bytes = manifest.dump();
    auto store = open_store();
    for (const std::string* blob : {&layer.bytes, &config, &manifest_bytes}) {
        std::string d = sha256_digest_of(*blob);
        if (store->has_blob(d)) continue;
        auto w = store->begin_blob(d, blob->size());
        w->write(blob->data(), blob->size());
        w->commit();
    }
    ImageInfo info =
        store->register_image(sha256_digest_of(manifest_bytes), "127.0.0.1:5000/x/y", "v2");
    EXPECT_EQ(info.full_name(), "127.0.0.1:5000/x/y:v2");
    EXPECT_TRUE(is_regular(cas() / "tree" / info.id / ".rendered"));
    EXPECT_EQ(read_file(store->render_tree(info.id) / "fetched"), "yes");
    // A tree removed behind the store's back is rendered again from the blobs.
    stdfs::remove_all(cas() / "tree" / info.id);
    EXPECT_EQ(read_file(store->render_tree(info.id) / "fetched"), "yes");
    EXPECT_TRUE(store->verify().empty());
    // The lease is released after registering: blob gc can run.
    write_file(cas() / "blobs/sha256" / std::string(64, 'f'), "junk");
    store->gc(std::chrono::hours(1), {});
    EXPECT_FALSE(exists_nofollow(cas() / "blobs/sha256" / std::string(64, 'f')));

    std::string missing =
        nlohmann::json({{"schemaVersion", 2},
                        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                        {"config", descriptor("application/vnd.oci.image.config.v1+json", config)},
                        {"layers", {descriptor(layer.media_type, "not fetched")}}})
            .dump();
    auto w = store->begin_blob(sha256_digest_of(missing), missing.size());
    w->write(missing.data(), missing.size());
    w->commit();
    EXPECT_ERROR_CONTAINS(store->register_image(sha256_digest_of(missing), "x", ""),
                          "is not in the store");

    // Blobs that match their digests but not the config's DiffIDs are refused.
    std::string lying_config = make_config({sha256_digest_of("other")}).dump();
    std::string lying =
        nlohmann::json(
            {{"schemaVersion", 2},
             {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
             {"config", descriptor("application/vnd.oci.image.config.v1+json", lying_config)},
             {"layers", {descriptor(layer.media_type, layer.bytes)}}})
            .dump();
    for (const std::string* blob : {&lying_config, &lying}) {
        auto bw = store->begin_blob(sha256_digest_of(*blob), blob->size());
        bw->write(blob->data(), blob->size());
        bw->commit();
    }
    EXPECT_ERROR_CONTAINS(store->register_image(sha256_digest_of(lying), "x", ""),
                          "DiffID mismatch");
    EXPECT_EQ(store->list().size(), 1u);
    EXPECT_TRUE(tmp_entries().empty());
}

TEST_F(ConcurrencyTest, VerifyReportsCorruptAndMissingBlobs) {
    stdfs::path layout = tmp_ / "v";
    std::string id = write_simple_layout(layout, {{file("a", "1")}});
    auto store = open_store();
    store->import_oci_layout(layout, "", "");
    nlohmann::json m = nlohmann::json::parse(store->manifest_json(id));
    std::string layer = m["layers"][0]["digest"].get<std::string>().substr(7);
    std::string config = m["config"]["digest"].get<std::string>().substr(7);
    write_file(cas() / "blobs/sha256" / layer, "corrupt");
    stdfs::remove(cas() / "blobs/sha256" / config);
    auto problems = store->verify();
    ASSERT_EQ(problems.size(), 3u);  // corrupt layer, its wrong size, missing config
    std::string all;
    for (const auto& p : problems) all += p + "\n";
    EXPECT_NE(all.find("is corrupt"), std::string::npos) << all;
    EXPECT_NE(all.find("is missing"), std::string::npos) << all;
}

}  // namespace
}  // namespace rkt::store::testing
