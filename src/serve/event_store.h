// The server's durable memory: every request, feedback report, shadow comparison and rollback goes
// into one SQLite file (WAL mode), written by a background thread so request handlers never wait for
// the disk, and read back by the rollback monitor and the admin API; the state survives restarts.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "serve/events.h"

namespace bitdial::serve {

class SqliteDb;

struct EventStoreStats {
  int64_t queued = 0;      // events handed to record()/set_route_state() so far
  int64_t committed = 0;   // events written and committed
  int64_t failed = 0;      // events dropped because their write failed (see last_error())
  int64_t commits = 0;     // transactions committed: a burst of events shares one
};

class EventStore {
 public:
  // Opens or creates the database at `path` (its folder must exist) and starts the writer thread.
  // Raises bitdial::Error naming the path when the file is not SQLite, has another schema version,
  // belongs to something else, or cannot be switched to WAL mode.
  explicit EventStore(const std::string& path);
  // Writes and commits everything still queued, then closes: nothing is lost on graceful shutdown.
  ~EventStore();
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // Queue an event and return at once (thread-safe, never touches the disk).
  void record(const RequestEvent& e);
  void record(const FeedbackEvent& e);
  void record(const ShadowEvent& e);
  void record(const RollbackEvent& e);
  // Insert or replace the route's row.
  void set_route_state(const RouteState& s);

  // Blocks until every event queued before the call is committed (or failed). Raises bitdial::Error
  // if a write failed since the previous flush(); each failure is reported by flush() once.
  void flush();
  // The most recent write failure, kept until the store closes; nullopt if every write succeeded.
  std::optional<std::string> last_error() const;
  EventStoreStats stats() const;
  const std::string& path() const { return path_; }

  // Queries run on their own connection after waiting for every event queued before them, so they
  // see all earlier record() calls. "Latest" is by event time, ties by arrival; results oldest first.
  bool has_request(const std::string& request_id);
  // The most recently recorded request with this id.
  std::optional<RequestEvent> find_request(const std::string& request_id);
  // Agreement of the route's latest `window` shadow comparisons whose baseline answered.
  std::vector<bool> recent_shadow_agreement(const std::string& route, int64_t window);
  // `overridden` of the latest `window` feedback reports on requests served by the route.
  std::vector<bool> recent_overrides(const std::string& route, int64_t window, const std::string& backend = "");
  // total_ms of the route's latest `window` requests answered with status 200.
  std::vector<double> recent_latencies_ms(const std::string& route, int64_t window, const std::string& backend = "");
  // Whether each of the latest `window` requests on `route` that `backend` was tried first for failed
  // (status != 200) and whether the cascade escalated it, oldest first: the rollback monitor's error
  // and escalation windows.
  struct Outcome {
    bool error = false;
    bool escalated = false;
  };
  std::vector<Outcome> recent_outcomes(const std::string& route, int64_t window, const std::string& backend);
  std::vector<RouteState> route_states();  // sorted by route
  std::vector<RollbackEvent> rollbacks();  // in the order they were recorded
  int64_t count_requests();
  int64_t count_feedback();
  int64_t count_shadow();
  int64_t count_rollbacks();

 private:
  using Event = std::variant<RequestEvent, FeedbackEvent, ShadowEvent, RollbackEvent, RouteState>;

  void push(Event e);
  void writer_loop();
  // Writes one batch in a single transaction; on failure retries each event alone so one bad event
  // does not take the rest of the burst with it. Runs on the writer thread only.
  void write_batch(std::deque<Event>& batch);
  void write_one(const Event& e);
  void note_failure(const std::string& message, int64_t n_events);
  // Waits until every event queued so far is committed or failed; does not raise.
  void wait_written();
  int64_t count(const char* table);

  std::string path_;
  std::unique_ptr<SqliteDb> write_db_;  // used by the writer thread only (after construction)
  std::unique_ptr<SqliteDb> read_db_;   // guarded by read_mutex_
  struct Inserts;                       // prepared INSERTs on write_db_, closed before it
  std::unique_ptr<Inserts> inserts_;
  std::mutex read_mutex_;

  mutable std::mutex mutex_;            // guards everything below
  std::condition_variable wake_writer_;
  std::condition_variable written_;
  std::deque<Event> queue_;
  int64_t queued_ = 0;                  // sequence number of the last event queued
  int64_t done_ = 0;                    // every event up to this sequence number is committed or failed
  EventStoreStats stats_;
  std::optional<std::string> last_error_;
  std::optional<std::string> unreported_error_;  // for flush(); cleared when it raises
  bool stopping_ = false;
  std::thread writer_;                  // last member: starts after everything above exists
};

}  // namespace bitdial::serve
