// A thin RAII layer over SQLite: one connection, prepared statements, and transactions that
// roll back unless committed. Every failure becomes an rkt::Error naming the statement.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace rkt::store {

class SqliteDb;

class SqliteStatement {
public:
    SqliteStatement(SqliteDb& db, std::string_view sql);
    SqliteStatement(const SqliteStatement&) = delete;
    SqliteStatement& operator=(const SqliteStatement&) = delete;
    ~SqliteStatement();

    // Binds by 1-based position; returns *this so calls chain.
    SqliteStatement& bind(int index, std::string_view value);
    SqliteStatement& bind(int index, int64_t value);
    SqliteStatement& bind_null(int index);

    // Advances to the next row; false when done.
    bool step();
    // Runs a statement that returns no rows.
    void run();

    std::string column_text(int index) const;
    int64_t column_int(int index) const;
    bool column_is_null(int index) const;

private:
    SqliteDb& db_;
    sqlite3_stmt* stmt_ = nullptr;
    std::string sql_;
};

class SqliteDb {
public:
    // Opens (creating) the database with WAL journaling and a busy timeout, so concurrent
    // processes wait for each other instead of failing.
    explicit SqliteDb(const std::filesystem::path& path);
    SqliteDb(const SqliteDb&) = delete;
    SqliteDb& operator=(const SqliteDb&) = delete;
    ~SqliteDb();

    void exec(std::string_view sql);
    int64_t changes() const;
    sqlite3* handle() { return db_; }
    const std::filesystem::path& path() const { return path_; }
    [[noreturn]] void fail(std::string_view what) const;

private:
    sqlite3* db_ = nullptr;
    std::filesystem::path path_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless commit() ran. IMMEDIATE takes
// the write lock up front, so two writers never deadlock upgrading from read locks.
class SqliteTransaction {
public:
    explicit SqliteTransaction(SqliteDb& db);
    SqliteTransaction(const SqliteTransaction&) = delete;
    SqliteTransaction& operator=(const SqliteTransaction&) = delete;
    ~SqliteTransaction();
    void commit();

private:
    SqliteDb& db_;
    bool done_ = false;
};

}  // namespace rkt::store
