#include "serve/event_store.h"

#include <algorithm>
#include <exception>
#include <type_traits>
#include <utility>

#include "core/error.h"
#include "serve/event_db.h"

namespace bitdial::serve {
namespace {

// A batch whose events keep failing one by one is dropped whole after this many: the cause is then
// the database (disk full, table gone), not one event, and retrying each would cost O(n^2).
constexpr int kMaxSingleFailuresPerBatch = 8;

constexpr const char* kRequestColumns =
    "request_id, time, route, backend, primary_backend, decision, endpoint, user_hash, confidence, "
    "escalated, failed_over, status, error, n_prompt_tokens, n_completion_tokens, ttft_ms, total_ms, stream";

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

// Reads rows of `q` (one bool or double in column 0) and returns them reversed: the queries ask for the
// newest first (so LIMIT keeps the latest) and callers want the oldest first.
template <class T>
std::vector<T> oldest_first(SqliteStmt& q) {
  std::vector<T> out;
  while (q.step()) {
    if constexpr (std::is_same_v<T, bool>) {
      out.push_back(q.col_int(0) != 0);
    } else {
      out.push_back(q.col_real(0));
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

struct EventStore::Inserts {
  explicit Inserts(const SqliteDb& db)
      : request(db, std::string("INSERT INTO requests(") + kRequestColumns +
                        ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
        feedback(db, "INSERT INTO feedback(request_id, time, overridden, correct_answer) VALUES(?,?,?,?)"),
        shadow(db,
               "INSERT INTO shadow(request_id, time, route, primary_backend, baseline, agree, kind, "
               "primary_answer, baseline_answer, error) VALUES(?,?,?,?,?,?,?,?,?,?)"),
        rollback(db,
                 "INSERT INTO rollbacks(time, route, action, metric, value, bound, window_size, n, evidence) "
                 "VALUES(?,?,?,?,?,?,?,?,?)"),
        route_state(db, "INSERT OR REPLACE INTO route_state(route, rolled_back, time, reason) VALUES(?,?,?,?)") {}
  SqliteStmt request, feedback, shadow, rollback, route_state;
};

EventStore::EventStore(const std::string& path)
    : path_(path),
      write_db_(std::make_unique<SqliteDb>(path, SqliteDb::Mode::create)),
      read_db_(std::make_unique<SqliteDb>(path, SqliteDb::Mode::read_only)),
      inserts_(std::make_unique<Inserts>(*write_db_)) {
  writer_ = std::thread([this] { writer_loop(); });
}

EventStore::~EventStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_writer_.notify_one();
  writer_.join();
}

void EventStore::record(const RequestEvent& e) { push(e); }
void EventStore::record(const FeedbackEvent& e) { push(e); }
void EventStore::record(const ShadowEvent& e) { push(e); }
void EventStore::record(const RollbackEvent& e) { push(e); }
void EventStore::set_route_state(const RouteState& s) { push(s); }

void EventStore::push(Event e) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(e));
    ++queued_;
    ++stats_.queued;
  }
  wake_writer_.notify_one();
}

void EventStore::writer_loop() {
  for (;;) {
    std::deque<Event> batch;
    int64_t last = 0;
    {
      std::unique_lock lock(mutex_);
      wake_writer_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      batch.swap(queue_);
      last = queued_;  // the batch holds exactly the events up to this sequence number
    }
    write_batch(batch);
    {
      std::lock_guard lock(mutex_);
      done_ = last;
    }
    written_.notify_all();
  }
}

void EventStore::write_batch(std::deque<Event>& batch) {
  int single_failures = 0;
  while (!batch.empty()) {
    size_t at = 0;
    bool in_inserts = false;
    try {
      // IMMEDIATE takes the write lock up front: a lock held elsewhere fails here, not mid-batch.
      write_db_->exec("BEGIN IMMEDIATE");
      in_inserts = true;
      for (at = 0; at < batch.size(); ++at) write_one(batch[at]);
      in_inserts = false;
      write_db_->exec("COMMIT");
      std::lock_guard lock(mutex_);
      stats_.committed += static_cast<int64_t>(batch.size());
      ++stats_.commits;
      return;
    } catch (const std::exception& ex) {
      try {
        write_db_->exec("ROLLBACK");
      } catch (const std::exception&) {
        // No transaction left to roll back (BEGIN failed): nothing to undo.
      }
      if (!in_inserts || ++single_failures > kMaxSingleFailuresPerBatch) {
        note_failure(ex.what(), static_cast<int64_t>(batch.size()));
        return;
      }
      // Drop the event that failed and write the rest again.
      note_failure(ex.what(), 1);
      batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(at));
    }
  }
}

void EventStore::write_one(const Event& event) {
  Inserts& s = *inserts_;
  std::visit(Overloaded{
                 [&](const RequestEvent& e) {
                   s.request.bind_text(1, e.request_id).bind_real(2, e.time).bind_text(3, e.route);
                   s.request.bind_text(4, e.backend).bind_text(5, e.primary).bind_text(6, e.decision);
                   s.request.bind_text(7, e.endpoint).bind_text(8, e.user_hash).bind_nullable(9, e.confidence);
                   s.request.bind_int(10, e.escalated).bind_text(11, e.failed_over).bind_int(12, e.status);
                   s.request.bind_text(13, e.error).bind_int(14, e.n_prompt_tokens);
                   s.request.bind_int(15, e.n_completion_tokens).bind_real(16, e.ttft_ms);
                   s.request.bind_real(17, e.total_ms).bind_int(18, e.stream);
                   s.request.run();
                 },
                 [&](const FeedbackEvent& e) {
                   s.feedback.bind_text(1, e.request_id).bind_real(2, e.time).bind_int(3, e.overridden);
                   s.feedback.bind_nullable(4, e.correct_answer);
                   s.feedback.run();
                 },
                 [&](const ShadowEvent& e) {
                   s.shadow.bind_text(1, e.request_id).bind_real(2, e.time).bind_text(3, e.route);
                   s.shadow.bind_text(4, e.primary).bind_text(5, e.baseline).bind_int(6, e.agree);
                   s.shadow.bind_text(7, e.kind).bind_text(8, e.primary_answer);
                   s.shadow.bind_text(9, e.baseline_answer).bind_text(10, e.error);
                   s.shadow.run();
                 },
                 [&](const RollbackEvent& e) {
                   s.rollback.bind_real(1, e.time).bind_text(2, e.route).bind_text(3, e.action);
                   s.rollback.bind_text(4, e.metric).bind_real(5, e.value).bind_real(6, e.bound);
                   s.rollback.bind_int(7, e.window).bind_int(8, e.n).bind_text(9, e.evidence);
                   s.rollback.run();
                 },
                 [&](const RouteState& e) {
                   s.route_state.bind_text(1, e.route).bind_int(2, e.rolled_back).bind_real(3, e.time);
                   s.route_state.bind_text(4, e.reason);
                   s.route_state.run();
                 },
             },
             event);
}

void EventStore::note_failure(const std::string& message, int64_t n_events) {
  std::lock_guard lock(mutex_);
  stats_.failed += n_events;
  last_error_ = message;
  unreported_error_ = concat(message, " (", stats_.failed, " event(s) lost so far)");
}

void EventStore::wait_written() {
  std::unique_lock lock(mutex_);
  const int64_t target = queued_;
  written_.wait(lock, [&] { return done_ >= target; });
}

void EventStore::flush() {
  wait_written();
  std::optional<std::string> error;
  {
    std::lock_guard lock(mutex_);
    error.swap(unreported_error_);
  }
  if (error) throw Error(*error);
}

std::optional<std::string> EventStore::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

EventStoreStats EventStore::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

bool EventStore::has_request(const std::string& request_id) {
  wait_written();
  std::lock_guard lock(read_mutex_);
  SqliteStmt q(*read_db_, "SELECT 1 FROM requests WHERE request_id = ? LIMIT 1");
  q.bind_text(1, request_id);
  return q.step();
}

std::optional<RequestEvent> EventStore::find_request(const std::string& request_id) {
  wait_written();
  std::lock_guard lock(read_mutex_);
  SqliteStmt q(*read_db_, std::string("SELECT ") + kRequestColumns +
                              " FROM requests WHERE request_id = ? ORDER BY id DESC LIMIT 1");
  q.bind_text(1, request_id);
  if (!q.step()) return std::nullopt;
  RequestEvent e;
  e.request_id = q.col_text(0);
  e.time = q.col_real(1);
  e.route = q.col_text(2);
  e.backend = q.col_text(3);
  e.primary = q.col_text(4);
  e.decision = q.col_text(5);
  e.endpoint = q.col_text(6);
  e.user_hash = q.col_text(7);
  if (!q.is_null(8)) e.confidence = q.col_real(8);
  e.escalated = q.col_int(9) != 0;
  e.failed_over = q.col_text(10);
  e.status = static_cast<int>(q.col_int(11));
  e.error = q.col_text(12);
  e.n_prompt_tokens = q.col_int(13);
  e.n_completion_tokens = q.col_int(14);
  e.ttft_ms = q.col_real(15);
  e.total_ms = q.col_real(16);
  e.stream = q.col_int(17) != 0;
  return e;
}

std::vector<bool> EventStore::recent_shadow_agreement(const std::string& route, int64_t window) {
  if (window <= 0) return {};
  wait_written();
  std::lock_guard lock(read_mutex_);
  SqliteStmt q(*read_db_,
               "SELECT agree FROM shadow WHERE route = ? AND error = '' ORDER BY time DESC, id DESC LIMIT ?");
  q.bind_text(1, route).bind_int(2, window);
  return oldest_first<bool>(q);
}

std::vector<bool> EventStore::recent_overrides(const std::string& route, int64_t window, const std::string& backend) {
  if (window <= 0) return {};
  wait_written();
  std::lock_guard lock(read_mutex_);
  // IN rather than JOIN: a request id recorded twice must not count its feedback twice. An empty
  // backend matches every backend.
  SqliteStmt q(*read_db_,
               "SELECT overridden FROM feedback WHERE request_id IN "
               "(SELECT request_id FROM requests WHERE route = ? AND (? = '' OR backend = ?)) ORDER BY time DESC, id DESC LIMIT ?");
  q.bind_text(1, route).bind_text(2, backend).bind_text(3, backend).bind_int(4, window);
  return oldest_first<bool>(q);
}

std::vector<double> EventStore::recent_latencies_ms(const std::string& route, int64_t window, const std::string& backend) {
  if (window <= 0) return {};
  wait_written();
  std::lock_guard lock(read_mutex_);
  SqliteStmt q(*read_db_,
               "SELECT total_ms FROM requests WHERE route = ? AND status = 200 AND (? = '' OR backend = ?) "
               "ORDER BY time DESC, id DESC LIMIT ?");
  q.bind_text(1, route).bind_text(2, backend).bind_text(3, backend).bind_int(4, window);
  return oldest_first<double>(q);
}

std::vector<EventStore::Outcome> EventStore::recent_outcomes(const std::string& route, int64_t window, const std::string& backend) {
  if (window <= 0) return {};
  wait_written();
  std::lock_guard lock(read_mutex_);
  // By the backend the route tried first: a failed request has no answering backend, and an
  // escalated one was answered by the fallback.
  SqliteStmt q(*read_db_,
               "SELECT status != 200, escalated FROM requests WHERE route = ? AND primary_backend = ? "
               "ORDER BY time DESC, id DESC LIMIT ?");
  q.bind_text(1, route).bind_text(2, backend).bind_int(3, window);
  std::vector<Outcome> out;
  while (q.step()) out.push_back({q.col_int(0) != 0, q.col_int(1) != 0});
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<RouteState> EventStore::route_states() {
  wait_written();
  std::lock_guard lock(read_mutex_);
  SqliteStmt q(*read_db_, "SELECT route, rolled_back, time, reason FROM route_state ORDER BY route");
  std::vector<RouteState> out;
  while (q.step()) out.push_back({q.col_text(0), q.col_int(1) != 0, q.col_real(2), q.col_text(3)});
  return out;
}

std::vector<RollbackEvent> EventStore::rollbacks() {
  wait_written();
  std::lock_guard lock(read_mutex_);
  SqliteStmt q(*read_db_,
               "SELECT time, route, action, metric, value, bound, window_size, n, evidence FROM rollbacks ORDER BY id");
  std::vector<RollbackEvent> out;
  while (q.step()) {
    out.push_back({q.col_real(0), q.col_text(1), q.col_text(2), q.col_text(3), q.col_real(4), q.col_real(5),
                   q.col_int(6), q.col_int(7), q.col_text(8)});
  }
  return out;
}

int64_t EventStore::count(const char* table) {
  wait_written();
  std::lock_guard lock(read_mutex_);
  return read_db_->query_int(std::string("SELECT count(*) FROM ") + table);
}

int64_t EventStore::count_requests() { return count("requests"); }
int64_t EventStore::count_feedback() { return count("feedback"); }
int64_t EventStore::count_shadow() { return count("shadow"); }
int64_t EventStore::count_rollbacks() { return count("rollbacks"); }

}  // namespace bitdial::serve
