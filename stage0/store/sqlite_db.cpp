#include "stage0/store/sqlite_db.h"

#include <sqlite3.h>

#include <cerrno>

#include "common/error.h"

namespace rkt::store {
namespace {
// Long enough to ride out another process's import commit; writes are short transactions.
constexpr int kBusyTimeoutMs = 60'000;
constexpr int kMaxWalFrames = 32;

// `rkt run` execs its stage1 with the database open, so no close checkpoints and removes the
// WAL, and every process rebuilds the WAL index by reading the whole WAL (3 us per KB here).
// That rebuild forgets what earlier checkpoints copied, so SQLite's passive auto-checkpoint
// never lets the WAL start over: it grows to its 4 MB limit and stays there. Instead, past
// kMaxWalFrames, the committing process checkpoints it and truncates it, without waiting for
// other processes (busy: the next commit tries again).
int keep_wal_short(void*, sqlite3* db, const char* name, int frames) {
    if (frames >= kMaxWalFrames) {
        sqlite3_busy_timeout(db, 0);
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
        sqlite3_busy_timeout(db, kBusyTimeoutMs);
    }
    return SQLITE_OK;
}
// The errno an Error carries for the connection's last failure: ENOSPC when the file system is
// full (SQLITE_FULL, or a write that failed with it), so callers can say so in one line.
int cause_of(sqlite3* db) {
    int code = sqlite3_extended_errcode(db);
    if ((code & 0xff) == SQLITE_FULL) return ENOSPC;
    int err = sqlite3_system_errno(db);
    return err == ENOSPC || err == EDQUOT ? err : 0;
}
}  // namespace

SqliteDb::SqliteDb(const std::filesystem::path& path) : path_(path) {
    int rc =
        sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close(db_);
        db_ = nullptr;
        throw Error("cannot open the image index " + path.string() + ": " + msg);
    }
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    sqlite3_extended_result_codes(db_, 1);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    sqlite3_wal_hook(db_, keep_wal_short, nullptr);
    exec("PRAGMA foreign_keys=ON");
}

SqliteDb::~SqliteDb() {
    sqlite3_close_v2(db_);
}

void SqliteDb::fail(std::string_view what) const {
    throw Error(
        "image index " + path_.string() + ": " + std::string(what) + ": " + sqlite3_errmsg(db_),
        kErrorExitCode, cause_of(db_));
}

void SqliteDb::exec(std::string_view sql) {
    std::string text(sql);
    char* err = nullptr;
    if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        throw Error("image index " + path_.string() + ": " + text + ": " + msg, kErrorExitCode,
                    cause_of(db_));
    }
}

int64_t SqliteDb::changes() const {
    return sqlite3_changes(db_);
}

SqliteStatement::SqliteStatement(SqliteDb& db, std::string_view sql) : db_(db), sql_(sql) {
    if (sqlite3_prepare_v2(db_.handle(), sql_.c_str(), static_cast<int>(sql_.size()), &stmt_,
                           nullptr) != SQLITE_OK)
        db_.fail("cannot prepare \"" + sql_ + "\"");
}

SqliteStatement::~SqliteStatement() {
    sqlite3_finalize(stmt_);
}

SqliteStatement& SqliteStatement::bind(int index, std::string_view value) {
    if (sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                          SQLITE_TRANSIENT) != SQLITE_OK)
        db_.fail("cannot bind a value to \"" + sql_ + "\"");
    return *this;
}

SqliteStatement& SqliteStatement::bind(int index, int64_t value) {
    if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK)
        db_.fail("cannot bind a value to \"" + sql_ + "\"");
    return *this;
}

SqliteStatement& SqliteStatement::bind_null(int index) {
    if (sqlite3_bind_null(stmt_, index) != SQLITE_OK)
        db_.fail("cannot bind a value to \"" + sql_ + "\"");
    return *this;
}

bool SqliteStatement::step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    db_.fail("\"" + sql_ + "\" failed");
}

void SqliteStatement::run() {
    while (step()) {
    }
}

std::string SqliteStatement::column_text(int index) const {
    const unsigned char* text = sqlite3_column_text(stmt_, index);
    int size = sqlite3_column_bytes(stmt_, index);
    if (!text) return {};
    return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

int64_t SqliteStatement::column_int(int index) const {
    return sqlite3_column_int64(stmt_, index);
}

bool SqliteStatement::column_is_null(int index) const {
    return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

SqliteTransaction::SqliteTransaction(SqliteDb& db) : db_(db) {
    db_.exec("BEGIN IMMEDIATE");
}

SqliteTransaction::~SqliteTransaction() {
    if (!done_) {
        try {
            db_.exec("ROLLBACK");
        } catch (const Error&) {
            // The connection already rolled back (e.g. after SQLITE_FULL); nothing to undo.
        }
    }
}

void SqliteTransaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

}  // namespace rkt::store
