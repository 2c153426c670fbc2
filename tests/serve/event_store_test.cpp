// The event store: WAL mode, asynchronous batched writes that survive restarts and concurrent writers,
// queries that see every earlier write, the latest-window queries the rollback monitor uses, and
// refusing files that are not bitdial event stores.
#include "serve/event_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "test_support.h"

namespace bitdial::serve {
namespace {

// An independent connection, as another process would see the file.
class RawDb {
 public:
  explicit RawDb(const std::string& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK); }
  ~RawDb() { sqlite3_close(db_); }
  std::string text(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW) out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
  }
  void exec(const std::string& sql) { EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK); }

 private:
  sqlite3* db_ = nullptr;
};

RequestEvent request(const std::string& id, const std::string& route, double time, double total_ms = 10,
                     int status = 200) {
  RequestEvent e;
  e.request_id = id;
  e.route = route;
  e.time = time;
  e.backend = "q4";
  e.primary = "q4";
  e.decision = "primary";
  e.endpoint = "completions";
  e.total_ms = total_ms;
  e.status = status;
  return e;
}

ShadowEvent shadow(const std::string& route, double time, bool agree, const std::string& error = "") {
  ShadowEvent e;
  e.request_id = "s" + std::to_string(time);
  e.route = route;
  e.time = time;
  e.primary = "q4";
  e.baseline = "f16";
  e.agree = agree;
  e.kind = "exact";
  e.error = error;
  return e;
}

FeedbackEvent feedback(const std::string& id, double time, bool overridden) {
  FeedbackEvent e;
  e.request_id = id;
  e.time = time;
  e.overridden = overridden;
  return e;
}

TEST(EventStore, DatabaseIsInWalMode) {
  test::TempDir dir;
  const std::string path = dir.file("events.db");
  EventStore store(path);
  RawDb raw(path);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.text("PRAGMA user_version"), "1");
}

TEST(EventStore, EventsSurviveRestart) {
  test::TempDir dir;
  const std::string path = dir.file("events.db");
  RequestEvent r = request("req-1", "chat", 1000.5, 42.5);
  r.user_hash = "u1";
  r.confidence = 0.875;
  r.escalated = true;
  r.failed_over = "a,b";
  r.decision = "cascade_escalated";
  r.n_prompt_tokens = 7;
  r.n_completion_tokens = 9;
  r.ttft_ms = 3.25;
  r.stream = true;
  {
    EventStore store(path);
    store.record(r);
    store.record(feedback("req-1", 1001, true));
    store.record(shadow("chat", 1002, true));
    store.record(RollbackEvent{1003, "chat", "rollback", "shadow_agreement", 0.8, 0.9, 100, 50, R"({"k":1})"});
    store.set_route_state({"chat", true, 1003, "agreement fell"});
  }
  EventStore store(path);
  EXPECT_EQ(store.count_requests(), 1);
  EXPECT_EQ(store.count_feedback(), 1);
  EXPECT_EQ(store.count_shadow(), 1);
  EXPECT_EQ(store.count_rollbacks(), 1);
  const auto got = store.find_request("req-1");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->route, "chat");
  EXPECT_EQ(got->time, 1000.5);
  EXPECT_EQ(got->decision, "cascade_escalated");
  EXPECT_EQ(got->user_hash, "u1");
  EXPECT_EQ(got->confidence, 0.875);
  EXPECT_TRUE(got->escalated);
  EXPECT_EQ(got->failed_over, "a,b");
  EXPECT_EQ(got->n_prompt_tokens, 7);
  EXPECT_EQ(got->n_completion_tokens, 9);
  EXPECT_EQ(got->ttft_ms, 3.25);
  EXPECT_EQ(got->total_ms, 42.5);
  EXPECT_TRUE(got->stream);
  const auto states = store.route_states();
  ASSERT_EQ(states.size(), 1u);
  EXPECT_TRUE(states[0].rolled_back);
  EXPECT_EQ(states[0].reason, "agreement fell");
  const auto rb = store.rollbacks();
  ASSERT_EQ(rb.size(), 1u);
  EXPECT_EQ(rb[0].metric, "shadow_agreement");
  EXPECT_EQ(rb[0].window, 100);
  EXPECT_EQ(rb[0].n, 50);
  EXPECT_EQ(rb[0].evidence, R"({"k":1})");
}

TEST(EventStore, MissingConfidenceStaysMissing) {
  test::TempDir dir;
  EventStore store(dir.file("events.db"));
  store.record(request("r", "chat", 1));
  const auto got = store.find_request("r");
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->confidence.has_value());
  EXPECT_FALSE(store.find_request("other").has_value());
}

TEST(EventStore, NothingLostFromEightThreadsAtShutdown) {
  test::TempDir dir;
  const std::string path = dir.file("events.db");
  constexpr int kThreads = 8, kPerThread = 625;
  {
    EventStore store(path);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&store, t] {
        for (int i = 0; i < kPerThread; ++i) {
          store.record(request("t" + std::to_string(t) + "-" + std::to_string(i), "chat", i));
        }
      });
    }
    for (auto& th : threads) th.join();
    // No flush: the destructor must write everything still queued.
  }
  RawDb raw(path);
  EXPECT_EQ(raw.text("SELECT count(*) FROM requests"), "5000");
  EXPECT_EQ(raw.text("SELECT count(DISTINCT request_id) FROM requests"), "5000");
}

TEST(EventStore, FlushMakesWriteVisibleToOtherConnections) {
  test::TempDir dir;
  const std::string path = dir.file("events.db");
  EventStore store(path);
  store.record(request("r1", "chat", 1));
  store.flush();
  RawDb raw(path);
  EXPECT_EQ(raw.text("SELECT request_id FROM requests"), "r1");
}

TEST(EventStore, QueriesSeeEveryEarlierRecord) {
  test::TempDir dir;
  EventStore store(dir.file("events.db"));
  for (int i = 0; i < 100; ++i) {
    store.record(request("r" + std::to_string(i), "chat", i));
    EXPECT_TRUE(store.has_request("r" + std::to_string(i)));
  }
  EXPECT_FALSE(store.has_request("r100"));
}

TEST(EventStore, BurstIsWrittenInFewTransactions) {
  test::TempDir dir;
  EventStore store(dir.file("events.db"));
  for (int i = 0; i < 1000; ++i) store.record(request("r" + std::to_string(i), "chat", i));
  store.flush();
  const EventStoreStats s = store.stats();
  EXPECT_EQ(s.queued, 1000);
  EXPECT_EQ(s.committed, 1000);
  EXPECT_EQ(s.failed, 0);
  // Whatever is queued when the writer wakes goes in one commit; 1000 one-event commits would mean none.
  EXPECT_LT(s.commits, 500);
}

TEST(EventStore, RecentShadowAgreementIsLatestWindowOldestFirst) {
  test::TempDir dir;
  EventStore store(dir.file("events.db"));
  // Recorded out of time order; the window follows event time.
  store.record(shadow("chat", 5, true));
  store.record(shadow("chat", 1, true));
  store.record(shadow("chat", 4, false));
  store.record(shadow("chat", 2, true));
  store.record(shadow("chat", 3, true));
  store.record(shadow("chat", 6, false, "baseline timed out"));  // not counted
  store.record(shadow("other", 7, false));                        // another route
  EXPECT_EQ(store.recent_shadow_agreement("chat", 3), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(store.recent_shadow_agreement("chat", 100), (std::vector<bool>{true, true, true, false, true}));
  EXPECT_TRUE(store.recent_shadow_agreement("chat", 0).empty());
  EXPECT_TRUE(store.recent_shadow_agreement("none", 10).empty());
}

TEST(EventStore, RecentOverridesJoinFeedbackToTheRequestsRoute) {
  test::TempDir dir;
  EventStore store(dir.file("events.db"));
  store.record(request("a1", "chat", 1));
  store.record(request("a2", "chat", 2));
  store.record(request("a3", "chat", 3));
  store.record(request("b1", "code", 4));
  store.record(feedback("a1", 10, true));
  store.record(feedback("b1", 11, true));   // another route
  store.record(feedback("a2", 12, false));
  store.record(feedback("x9", 13, true));   // unknown request
  store.record(feedback("a3", 14, true));
  EXPECT_EQ(store.recent_overrides("chat", 2), (std::vector<bool>{false, true}));
  EXPECT_EQ(store.recent_overrides("chat", 10), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(store.recent_overrides("code", 10), (std::vector<bool>{true}));
}

TEST(EventStore, RecentLatenciesSkipFailedRequests) {
  test::TempDir dir;
  EventStore store(dir.file("events.db"));
  store.record(request("r1", "chat", 1, 10));
  store.record(request("r2", "chat", 2, 20));
  store.record(request("r3", "chat", 3, 999, 503));
  store.record(request("r4", "chat", 4, 40));
  store.record(request("r5", "code", 5, 50));
  EXPECT_EQ(store.recent_latencies_ms("chat", 2), (std::vector<double>{20, 40}));
  EXPECT_EQ(store.recent_latencies_ms("chat", 10), (std::vector<double>{10, 20, 40}));
}

TEST(EventStore, BackendFilterKeepsOnlyThatBackendsHistory) {
  test::TempDir dir;
  EventStore store(dir.file("events.db"));
  RequestEvent control = request("c1", "chat", 1, 500);
  control.backend = "f16";
  store.record(control);
  store.record(request("q1", "chat", 2, 10));
  EXPECT_EQ(store.recent_latencies_ms("chat", 10, "q4"), (std::vector<double>{10}));
  EXPECT_EQ(store.recent_latencies_ms("chat", 10), (std::vector<double>{500, 10}));
}

TEST(EventStore, RecentOutcomesBelongToTheBackendTriedFirst) {
  test::TempDir dir;
  EventStore store(dir.file("events.db"));
  RequestEvent failed = request("q0", "chat", 1, 5, 502);
  failed.backend = "";
  store.record(failed);
  RequestEvent esc = request("q1", "chat", 2, 10);
  esc.escalated = true;
  esc.backend = "f16";  // escalated answers come from the fallback
  store.record(esc);
  store.record(request("q2", "chat", 3, 10));
  RequestEvent control = request("c1", "chat", 4, 10);
  control.primary = control.backend = "f16";
  store.record(control);
  const auto out = store.recent_outcomes("chat", 10, "q4");
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].error);
  EXPECT_TRUE(out[1].escalated);
  EXPECT_FALSE(out[1].error);
  EXPECT_FALSE(out[2].error || out[2].escalated);
}

TEST(EventStore, RouteStateIsReplacedNotAppended) {
  test::TempDir dir;
  EventStore store(dir.file("events.db"));
  store.set_route_state({"chat", true, 10, "rolled back"});
  store.set_route_state({"code", false, 11, ""});
  store.set_route_state({"chat", false, 12, "promoted"});
  const auto states = store.route_states();
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[0].route, "chat");
  EXPECT_FALSE(states[0].rolled_back);
  EXPECT_EQ(states[0].time, 12);
  EXPECT_EQ(states[0].reason, "promoted");
  EXPECT_EQ(states[1].route, "code");
}

TEST(EventStore, WriteErrorIsReportedByFlushAndDoesNotStopLaterWrites) {
  test::TempDir dir;
  const std::string path = dir.file("events.db");
  EventStore store(path);
  RawDb(path).exec("DROP TABLE feedback");
  store.record(feedback("r1", 1, true));
  const std::string err = test::error_of([&] { store.flush(); });
  EXPECT_NE(err.find("feedback"), std::string::npos) << err;
  ASSERT_TRUE(store.last_error().has_value());
  EXPECT_EQ(store.stats().failed, 1);
  store.record(request("r1", "chat", 1));
  store.flush();  // the failure was reported once; this batch succeeds
  EXPECT_TRUE(store.has_request("r1"));
  EXPECT_TRUE(store.last_error().has_value());  // kept
}

TEST(EventStore, OneBadEventDoesNotLoseItsBatch) {
  test::TempDir dir;
  const std::string path = dir.file("events.db");
  EventStore store(path);
  RawDb(path).exec("DROP TABLE shadow");
  for (int i = 0; i < 50; ++i) store.record(request("r" + std::to_string(i), "chat", i));
  store.record(shadow("chat", 1, true));
  for (int i = 50; i < 100; ++i) store.record(request("r" + std::to_string(i), "chat", i));
  EXPECT_THROW(store.flush(), Error);
  EXPECT_EQ(store.count_requests(), 100);
  EXPECT_EQ(store.stats().failed, 1);
}

TEST(EventStore, FileThatIsNotADatabaseIsAnErrorNamingThePath) {
  test::TempDir dir;
  const std::string path = dir.file("notes.txt");
  std::ofstream(path) << std::string(4096, 'x');
  const std::string err = test::error_of([&] { EventStore store(path); });
  EXPECT_NE(err.find(path), std::string::npos) << err;
}

TEST(EventStore, OtherSchemaVersionIsAnErrorNamingThePath) {
  test::TempDir dir;
  const std::string path = dir.file("events.db");
  { EventStore store(path); }
  RawDb(path).exec("PRAGMA user_version=99");
  const std::string err = test::error_of([&] { EventStore store(path); });
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("99"), std::string::npos) << err;
}

TEST(EventStore, SomeoneElsesSqliteFileIsAnError) {
  test::TempDir dir;
  const std::string path = dir.file("other.db");
  RawDb(path).exec("CREATE TABLE t(x)");
  const std::string err = test::error_of([&] { EventStore store(path); });
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("not a bitdial event store"), std::string::npos) << err;
}

TEST(EventStore, MissingFolderIsAnErrorNamingThePath) {
  test::TempDir dir;
  const std::string path = dir.file("no/such/folder/events.db");
  const std::string err = test::error_of([&] { EventStore store(path); });
  EXPECT_NE(err.find(path), std::string::npos) << err;
}

}  // namespace
}  // namespace bitdial::serve
