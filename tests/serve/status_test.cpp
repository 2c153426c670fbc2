// `bitdial serve --status`: the figures computed from a small handmade event database (known
// latencies, escalations, feedback, shadow outcomes, rollbacks), their text rendering, and refusing
// files that are missing or are not event stores.
#include "serve/status.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "serve/event_store.h"
#include "test_support.h"

namespace bitdial::serve {
namespace {

constexpr double kT0 = 1767225600;  // 2026-01-01T00:00:00Z

RequestEvent request(const std::string& id, const std::string& route, const std::string& backend, double time,
                     double total_ms, int status = 200) {
  RequestEvent e;
  e.request_id = id;
  e.route = route;
  e.backend = backend;
  e.primary = backend;
  e.decision = "primary";
  e.endpoint = "completions";
  e.time = time;
  e.total_ms = total_ms;
  e.ttft_ms = 5;
  e.n_completion_tokens = 10;
  e.status = status;
  return e;
}

ShadowEvent shadow(double time, bool agree, const std::string& error = "") {
  ShadowEvent e;
  e.request_id = "s";
  e.time = time;
  e.route = "chat";
  e.primary = "q4";
  e.baseline = "f16";
  e.agree = agree;
  e.kind = "choice";
  e.error = error;
  return e;
}

// chat/q4: 10 answers of 10..100 ms (2 escalated) and one 500; code/f16: one answer of 30 ms;
// 4 feedback reports on chat (1 override) and one on an unknown id; 5 shadow samples on chat (one
// failed, 3 of the other 4 agree); chat rolled back once.
std::string make_handmade_db(const test::TempDir& dir) {
  const std::string path = dir.file("events.db");
  EventStore store(path);
  for (int i = 0; i < 10; ++i) {
    RequestEvent e = request("c" + std::to_string(i), "chat", "q4", kT0 + 60 * i, 10.0 * (i + 1));
    e.escalated = i < 2;
    store.record(e);
  }
  store.record(request("c-err", "chat", "q4", kT0 + 600, 5000, 500));
  store.record(request("k0", "code", "f16", kT0 + 30, 30));
  for (int i = 0; i < 4; ++i) store.record(FeedbackEvent{"c" + std::to_string(i), kT0 + 700, i == 0, std::nullopt});
  store.record(FeedbackEvent{"unknown", kT0 + 700, true, std::nullopt});
  store.record(shadow(kT0 + 1, true));
  store.record(shadow(kT0 + 2, true));
  store.record(shadow(kT0 + 3, false));
  store.record(shadow(kT0 + 4, true));
  store.record(shadow(kT0 + 5, false, "baseline timed out"));
  store.record(RollbackEvent{kT0 + 700, "chat", "rollback", "shadow_agreement", 0.75, 0.9, 100, 4,
                             R"({"agree":3,"samples":4})"});
  store.set_route_state({"chat", true, kT0 + 700, "shadow agreement 0.75 < 0.9"});
  return path;
}

// The whitespace-separated cells of the report line that starts with `first` and `second`.
std::vector<std::string> row(const std::string& text, const std::string& first, const std::string& second) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream cells(line);
    std::vector<std::string> out;
    for (std::string c; cells >> c;) out.push_back(c);
    if (out.size() >= 2 && out[0] == first && out[1] == second) return out;
  }
  return {};
}

TEST(Status, JsonFiguresMatchHandmadeEvents) {
  test::TempDir dir;
  const auto j = summarize_events_json(make_handmade_db(dir));
  EXPECT_EQ(j["totals"]["requests"], 12);
  EXPECT_EQ(j["totals"]["errors"], 1);
  EXPECT_EQ(j["totals"]["feedback"], 5);
  EXPECT_EQ(j["totals"]["feedback_unmatched"], 1);
  EXPECT_EQ(j["totals"]["shadow"], 5);
  EXPECT_EQ(j["totals"]["rollbacks"], 1);
  ASSERT_EQ(j["routes"].size(), 2u);
  const auto& chat = j["routes"][0];
  EXPECT_EQ(chat["route"], "chat");
  EXPECT_EQ(chat["backend"], "q4");
  EXPECT_EQ(chat["requests"], 11);
  EXPECT_EQ(chat["errors"], 1);
  EXPECT_DOUBLE_EQ(chat["escalation_rate"].get<double>(), 2.0 / 11);
  EXPECT_EQ(chat["latency_ms"]["p50"], 50.0);  // nearest rank: the 5th of 10..100
  EXPECT_EQ(chat["latency_ms"]["p95"], 100.0);
  EXPECT_EQ(chat["latency_ms"]["p99"], 100.0);
  EXPECT_DOUBLE_EQ(chat["mean_ttft_ms"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(chat["completion_tokens_per_s"].get<double>(), 100 / 0.55);
  EXPECT_EQ(chat["feedback"], 4);
  EXPECT_DOUBLE_EQ(chat["override_rate"].get<double>(), 0.25);
  EXPECT_EQ(chat["shadow_samples"], 5);
  EXPECT_EQ(chat["shadow_errors"], 1);
  EXPECT_DOUBLE_EQ(chat["shadow_agreement"].get<double>(), 0.75);
  const auto& code = j["routes"][1];
  EXPECT_EQ(code["backend"], "f16");
  EXPECT_EQ(code["latency_ms"]["p50"], 30.0);
  EXPECT_TRUE(code["override_rate"].is_null());
  EXPECT_TRUE(code["shadow_agreement"].is_null());
}

TEST(Status, TimeSpanIsUtcIso8601) {
  test::TempDir dir;
  const auto j = summarize_events_json(make_handmade_db(dir));
  EXPECT_EQ(j["totals"]["first"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(j["totals"]["last"], "2026-01-01T00:10:00Z");
  EXPECT_EQ(j["totals"]["span_s"], 600.0);
}

TEST(Status, TextTableShowsEachRouteAndBackendsFigures) {
  test::TempDir dir;
  const std::string text = summarize_events(make_handmade_db(dir));
  EXPECT_EQ(row(text, "chat", "q4"), (std::vector<std::string>{"chat", "q4", "11", "1", "18.2", "50.0", "100.0",
                                                                "100.0", "5.0", "181.8", "4", "25.0", "5", "75.0"}))
      << text;
  EXPECT_EQ(row(text, "code", "f16"),
            (std::vector<std::string>{"code", "f16", "1", "0", "0.0", "30.0", "30.0", "30.0", "5.0", "333.3", "0",
                                      "-", "0", "-"}))
      << text;
  EXPECT_NE(text.find("requests 12, errors 1, feedback 5 (1 unmatched)"), std::string::npos) << text;
  EXPECT_NE(text.find("2026-01-01T00:00:00Z"), std::string::npos) << text;
}

TEST(Status, TextShowsRouteStatesAndRollbackEvidence) {
  test::TempDir dir;
  const std::string text = summarize_events(make_handmade_db(dir));
  EXPECT_NE(text.find("chat: ROLLED BACK since 2026-01-01T00:11:40Z (shadow agreement 0.75 < 0.9)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("rollback: shadow_agreement 0.7500 vs bound 0.9000 (n 4 of window 100)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"({"agree":3,"samples":4})"), std::string::npos) << text;
}

TEST(Status, ReadsWhileTheStoreIsOpen) {
  test::TempDir dir;
  const std::string path = dir.file("events.db");
  EventStore store(path);
  store.record(request("r", "chat", "q4", kT0, 12));
  store.flush();
  EXPECT_EQ(summarize_events_json(path)["totals"]["requests"], 1);
}

TEST(Status, EmptyStoreSaysSo) {
  test::TempDir dir;
  const std::string path = dir.file("events.db");
  { EventStore store(path); }
  const std::string text = summarize_events(path);
  EXPECT_NE(text.find("(no requests)"), std::string::npos) << text;
  EXPECT_TRUE(summarize_events_json(path)["totals"]["first"].is_null());
}

TEST(Status, MissingFileIsAnErrorNamingThePath) {
  test::TempDir dir;
  const std::string path = dir.file("absent.db");
  const std::string err = test::error_of([&] { summarize_events(path); });
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_FALSE(std::ifstream(path).good());  // read-only: nothing created
}

TEST(Status, FileThatIsNotAnEventStoreIsAnError) {
  test::TempDir dir;
  const std::string path = dir.file("notes.txt");
  std::ofstream(path) << std::string(4096, 'y');
  const std::string err = test::error_of([&] { summarize_events(path); });
  EXPECT_NE(err.find(path), std::string::npos) << err;
}

}  // namespace
}  // namespace bitdial::serve
