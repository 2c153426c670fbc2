#include "serve/event_db.h"

#include <sqlite3.h>

#include <filesystem>

#include "core/error.h"

namespace bitdial::serve {
namespace {

// Column names avoid SQL keywords ("primary", "window") so no statement needs quoting.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS requests (
  id INTEGER PRIMARY KEY,
  request_id TEXT NOT NULL, time REAL NOT NULL, route TEXT NOT NULL, backend TEXT NOT NULL,
  primary_backend TEXT NOT NULL, decision TEXT NOT NULL, endpoint TEXT NOT NULL, user_hash TEXT NOT NULL,
  confidence REAL, escalated INTEGER NOT NULL, failed_over TEXT NOT NULL, status INTEGER NOT NULL,
  error TEXT NOT NULL, n_prompt_tokens INTEGER NOT NULL, n_completion_tokens INTEGER NOT NULL,
  ttft_ms REAL NOT NULL, total_ms REAL NOT NULL, stream INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS requests_by_request_id ON requests(request_id);
CREATE INDEX IF NOT EXISTS requests_by_route_time ON requests(route, time);
CREATE TABLE IF NOT EXISTS feedback (
  id INTEGER PRIMARY KEY,
  request_id TEXT NOT NULL, time REAL NOT NULL, overridden INTEGER NOT NULL, correct_answer TEXT);
CREATE INDEX IF NOT EXISTS feedback_by_request_id ON feedback(request_id);
CREATE TABLE IF NOT EXISTS shadow (
  id INTEGER PRIMARY KEY,
  request_id TEXT NOT NULL, time REAL NOT NULL, route TEXT NOT NULL, primary_backend TEXT NOT NULL,
  baseline TEXT NOT NULL, agree INTEGER NOT NULL, kind TEXT NOT NULL, primary_answer TEXT NOT NULL,
  baseline_answer TEXT NOT NULL, error TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS shadow_by_route_time ON shadow(route, time);
CREATE TABLE IF NOT EXISTS rollbacks (
  id INTEGER PRIMARY KEY,
  time REAL NOT NULL, route TEXT NOT NULL, action TEXT NOT NULL, metric TEXT NOT NULL,
  value REAL NOT NULL, bound REAL NOT NULL, window_size INTEGER NOT NULL, n INTEGER NOT NULL,
  evidence TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS route_state (
  route TEXT PRIMARY KEY, rolled_back INTEGER NOT NULL, time REAL NOT NULL, reason TEXT NOT NULL);
)sql";

constexpr const char* kTables[] = {"requests", "feedback", "shadow", "rollbacks", "route_state"};

}  // namespace

SqliteDb::SqliteDb(const std::string& path, Mode mode) : path_(path) {
  namespace fs = std::filesystem;
  if (mode == Mode::read_only) {
    if (!fs::is_regular_file(path)) fail("event store ", path, ": no such file");
  } else {
    const fs::path parent = fs::absolute(fs::path(path)).parent_path();
    if (!fs::is_directory(parent)) fail("event store ", path, ": folder ", parent.string(), " does not exist");
  }
  const int flags = mode == Mode::read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    fail("event store ", path, ": cannot open: ", msg);
  }
  try {
    // Another process (or our other connection) may hold the write lock briefly: wait up to 5 s for it.
    sqlite3_busy_timeout(db_, 5000);
    check_or_create_schema(mode);
    if (mode == Mode::create) {
      const std::string journal = query_text("PRAGMA journal_mode=WAL");
      if (journal != "wal") fail("event store ", path, ": cannot switch to WAL mode (journal_mode is ", journal, ")");
      // With WAL, NORMAL loses at most the last commits on power loss, never consistency.
      exec("PRAGMA synchronous=NORMAL");
    }
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

SqliteDb::~SqliteDb() {
  // close_v2 defers the close until every statement is finalized; none should be left by then.
  if (db_) sqlite3_close_v2(db_);
}

void SqliteDb::check_or_create_schema(Mode mode) {
  // The first read fails with SQLITE_NOTADB on a file that is not SQLite.
  int64_t version = query_int("PRAGMA user_version");
  if (version == 0 && mode == Mode::create) {
    // IMMEDIATE takes the write lock at once, so two processes creating the same new file do not race.
    exec("BEGIN IMMEDIATE");
    try {
      version = query_int("PRAGMA user_version");
      const int64_t others = query_int("SELECT count(*) FROM sqlite_master");
      if (version == 0 && others == 0) {
        exec(kSchema);
        exec(concat("PRAGMA user_version=", kEventSchemaVersion));
        version = kEventSchemaVersion;
      }
      exec("COMMIT");
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
  if (version == 0) fail("event store ", path_, ": an SQLite file but not a bitdial event store (no schema version)");
  if (version != kEventSchemaVersion) {
    fail("event store ", path_, ": schema version ", version, ", this bitdial reads version ", kEventSchemaVersion);
  }
  for (const char* table : kTables) {
    SqliteStmt q(*this, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
    q.bind_text(1, table);
    if (!q.step() || q.col_int(0) != 1) fail("event store ", path_, ": table ", table, " is missing");
  }
}

void SqliteDb::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    fail("event store ", path_, ": ", msg);
  }
}

int64_t SqliteDb::query_int(const std::string& sql) const {
  SqliteStmt q(*this, sql);
  if (!q.step()) fail("event store ", path_, ": no result from ", sql);
  return q.col_int(0);
}

std::string SqliteDb::query_text(const std::string& sql) const {
  SqliteStmt q(*this, sql);
  if (!q.step()) fail("event store ", path_, ": no result from ", sql);
  return q.col_text(0);
}

void SqliteDb::fail_sqlite(const std::string& what) const {
  fail("event store ", path_, ": ", what, ": ", sqlite3_errmsg(db_));
}

SqliteStmt::SqliteStmt(const SqliteDb& db, const std::string& sql) : db_(db) {
  if (sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
    db.fail_sqlite("cannot prepare \"" + sql.substr(0, 60) + "\"");
  }
}

SqliteStmt::~SqliteStmt() { sqlite3_finalize(stmt_); }

SqliteStmt& SqliteStmt::bind_text(int i, const std::string& v) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so the caller's string may die before step().
  if (sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK) {
    db_.fail_sqlite("cannot bind parameter");
  }
  return *this;
}

SqliteStmt& SqliteStmt::bind_int(int i, int64_t v) {
  if (sqlite3_bind_int64(stmt_, i, v) != SQLITE_OK) db_.fail_sqlite("cannot bind parameter");
  return *this;
}

SqliteStmt& SqliteStmt::bind_real(int i, double v) {
  if (sqlite3_bind_double(stmt_, i, v) != SQLITE_OK) db_.fail_sqlite("cannot bind parameter");
  return *this;
}

SqliteStmt& SqliteStmt::bind_nullable(int i, const std::optional<double>& v) {
  if (v) return bind_real(i, *v);
  if (sqlite3_bind_null(stmt_, i) != SQLITE_OK) db_.fail_sqlite("cannot bind parameter");
  return *this;
}

SqliteStmt& SqliteStmt::bind_nullable(int i, const std::optional<std::string>& v) {
  if (v) return bind_text(i, *v);
  if (sqlite3_bind_null(stmt_, i) != SQLITE_OK) db_.fail_sqlite("cannot bind parameter");
  return *this;
}

bool SqliteStmt::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_.fail_sqlite("query failed");
}

void SqliteStmt::run() {
  try {
    while (step()) {
    }
  } catch (...) {
    reset();
    throw;
  }
  reset();
}

void SqliteStmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool SqliteStmt::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
int64_t SqliteStmt::col_int(int col) const { return sqlite3_column_int64(stmt_, col); }
double SqliteStmt::col_real(int col) const { return sqlite3_column_double(stmt_, col); }

std::string SqliteStmt::col_text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
}

}  // namespace bitdial::serve
