// The event database file itself: RAII wrappers over an SQLite connection and its prepared statements,
// and the schema that makes a file a bitdial event store. Shared by the EventStore (read-write) and
// `bitdial serve --status` (read-only) so both agree on what a valid file is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace bitdial::serve {

// Stored in `PRAGMA user_version`; bump it whenever a table changes shape (no migrations yet: a file of
// another version is refused rather than misread).
inline constexpr int kEventSchemaVersion = 1;

class SqliteDb {
 public:
  enum class Mode {
    create,     // read-write; creates the file and its tables when new; switches the file to WAL
    read_only,  // the file must exist and already be an event store of kEventSchemaVersion
  };
  // Opens `path` and checks that it is a bitdial event store of kEventSchemaVersion. Every failure
  // (missing folder or file, not SQLite, another schema version, someone else's SQLite file) raises
  // bitdial::Error naming the path.
  SqliteDb(const std::string& path, Mode mode);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

  // Runs statements that return no rows we need; raises bitdial::Error naming the path on failure.
  void exec(const std::string& sql) const;
  // The value of a single-row, single-column query such as "PRAGMA user_version".
  int64_t query_int(const std::string& sql) const;
  std::string query_text(const std::string& sql) const;
  // "event store PATH: WHAT: <sqlite's message>", raised as bitdial::Error.
  [[noreturn]] void fail_sqlite(const std::string& what) const;

 private:
  void check_or_create_schema(Mode mode);

  sqlite3* db_ = nullptr;
  std::string path_;
};

// One prepared statement. Parameters are numbered from 1 and columns from 0, as in SQLite.
class SqliteStmt {
 public:
  SqliteStmt(const SqliteDb& db, const std::string& sql);
  ~SqliteStmt();
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;

  SqliteStmt& bind_text(int i, const std::string& v);
  SqliteStmt& bind_int(int i, int64_t v);
  SqliteStmt& bind_real(int i, double v);
  SqliteStmt& bind_nullable(int i, const std::optional<double>& v);  // NULL when empty
  SqliteStmt& bind_nullable(int i, const std::optional<std::string>& v);

  // true: a row is ready to read; false: the statement finished. Raises bitdial::Error on failure.
  bool step();
  // Runs a statement that returns no rows, then resets it and clears its bindings for reuse.
  void run();
  void reset();

  bool is_null(int col) const;
  int64_t col_int(int col) const;
  double col_real(int col) const;
  std::string col_text(int col) const;

 private:
  const SqliteDb& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace bitdial::serve
