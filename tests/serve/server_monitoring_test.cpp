// Monitoring over real HTTP: feedback and shadow comparisons are recorded, injected disagreement
// and overrides roll a route back on their own (recorded with evidence, visible in /metrics and the
// status summary), operators can promote and roll back, and a restart keeps every event and the mode.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "fake_http.h"
#include "live_server.h"
#include "serve/status.h"

namespace bitdial::test {
namespace {

using nlohmann::json;

// An upstream that answers every completion with the same text: a baseline that never agrees.
class LyingUpstream {
 public:
  LyingUpstream()
      : http_("/v1/completions", [](const httplib::Request&, httplib::Response& res) {
          res.set_content(R"({"id":"x","object":"text_completion","created":0,"model":"liar",
            "choices":[{"index":0,"text":" purple elephants","logprobs":null,"finish_reason":"length"}],
            "usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})",
                          "application/json");
        }) {}
  std::string url() const { return http_.url(); }

 private:
  LocalHttpServer http_;
};

// Waits (up to 20 s) until pred() holds.
template <class P>
bool eventually(P pred) {
  for (int i = 0; i < 2000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

TEST(ServerMonitoring, FeedbackIsRecordedAndAnUnknownRequestIs404) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  LiveServer server(two_model_config(dir.file("events.db")));
  const auto [s1, answer] = server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 2}});
  ASSERT_EQ(s1, 200);
  const auto [s2, ok] = server.post("/v1/feedback", {{"request_id", answer["id"]}, {"overridden", true}, {"correct_answer", "Hello"}});
  EXPECT_EQ(s2, 200) << ok.dump();
  EXPECT_EQ(server.gateway().store().count_feedback(), 1);
  const auto [s3, missing] = server.post("/v1/feedback", {{"request_id", "cmpl-none"}, {"overridden", false}});
  EXPECT_EQ(s3, 404);
  EXPECT_EQ(missing["error"]["type"], "not_found_error");
  EXPECT_EQ(server.post("/v1/feedback", {{"request_id", answer["id"]}, {"overridden", "yes"}}).first, 400);
}

TEST(ServerMonitoring, ShadowSamplesRecordAgreementWithTheBaseline) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  serve::ServeConfig cfg = two_model_config(dir.file("events.db"));
  cfg.backends[0].model = stories_model();  // the primary is the baseline's own file: they must agree
  cfg.monitoring.shadow_sample = 1.0;
  LiveServer server(cfg);
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(server.post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 6}, {"temperature", 0}}).first, 200);
  serve::EventStore& store = server.gateway().store();
  ASSERT_TRUE(eventually([&] { return store.count_shadow() == 4; }));
  for (bool agree : store.recent_shadow_agreement("default", 10)) EXPECT_TRUE(agree);
}

TEST(ServerMonitoring, InjectedShadowDisagreementRollsTheRouteBack) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  LyingUpstream liar;
  serve::ServeConfig cfg = two_model_config(dir.file("events.db"));
  cfg.backends.push_back(upstream_backend("liar", liar.url()));
  cfg.routes[0].fallback = "liar";
  cfg.monitoring.shadow_sample = 1.0;
  cfg.rollback = {serve::RollbackRule{serve::RollbackMetric::shadow_agreement, 0.9, std::nullopt, 4}};
  LiveServer server(cfg);
  for (int i = 0; i < 4; ++i) {
    const auto [status, j] = server.post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 3}, {"temperature", 0}});
    ASSERT_EQ(status, 200);
    EXPECT_EQ(j["bitdial"]["backend"], "primary");
  }
  ASSERT_TRUE(eventually([&] { return server.gateway().guard().mode("default") == serve::RouteMode::rolled_back; }))
      << server.client().Get("/metrics")->body;
  const auto [status, j] = server.post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 3}});
  EXPECT_EQ(j["bitdial"]["backend"], "liar");
  EXPECT_EQ(j["bitdial"]["decision"], "rolled_back");
  const std::vector<serve::RollbackEvent> rb = server.gateway().store().rollbacks();
  ASSERT_EQ(rb.size(), 1u);
  EXPECT_EQ(rb[0].metric, "shadow_agreement");
  EXPECT_EQ(rb[0].value, 0.0);
  EXPECT_EQ(rb[0].n, 4);
  EXPECT_NE(rb[0].evidence.find("0.9"), std::string::npos) << rb[0].evidence;
  const std::string metrics = server.client().Get("/metrics")->body;
  EXPECT_NE(metrics.find(R"(bitdial_route_mode{route="default",mode="rolled_back"} 1)"), std::string::npos);
  EXPECT_NE(metrics.find(R"(bitdial_rollbacks_total{route="default",action="rollback"} 1)"), std::string::npos);
}

TEST(ServerMonitoring, OverrideFeedbackAboveTheRuleRollsBackTheAbSplit) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  serve::ServeConfig cfg = two_model_config(dir.file("events.db"));
  cfg.routes[0].ab = serve::AbConfig{"primary", "baseline", 100};
  cfg.rollback = {serve::RollbackRule{serve::RollbackMetric::override_rate, std::nullopt, 0.12, 5}};
  LiveServer server(cfg);
  for (int i = 0; i < 5; ++i) {
    const auto [status, j] = server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 1}});
    ASSERT_EQ(j["bitdial"]["backend"], "primary");
    ASSERT_EQ(server.post("/v1/feedback", {{"request_id", j["id"]}, {"overridden", i < 2}}).first, 200);
  }
  EXPECT_EQ(server.gateway().guard().mode("default"), serve::RouteMode::rolled_back);
  EXPECT_EQ(server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 1}}).second["bitdial"]["backend"], "baseline");
}

TEST(ServerMonitoring, AdminPromoteAndRollbackNeedTheAdminKey) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  serve::ServeConfig cfg = two_model_config(dir.file("events.db"));
  cfg.routes[0].ab = serve::AbConfig{"primary", "baseline", 0};
  cfg.auth.admin_key_sha256 = serve::key_hash("boss");
  LiveServer server(cfg);
  EXPECT_EQ(server.post("/admin/routes/default/promote", json::object()).first, 401);
  const httplib::Headers boss = {{"Authorization", "Bearer boss"}};
  EXPECT_EQ(server.post("/admin/routes/default/promote", json::object(), boss).first, 200);
  EXPECT_EQ(server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 1}}).second["bitdial"]["backend"], "primary");
  EXPECT_EQ(server.post("/admin/routes/default/rollback", json::object(), boss).first, 200);
  EXPECT_EQ(server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 1}}).second["bitdial"]["backend"], "baseline");
  EXPECT_EQ(server.post("/admin/routes/nowhere/rollback", json::object(), boss).first, 400);
  EXPECT_EQ(server.gateway().store().count_rollbacks(), 2);
}

TEST(ServerMonitoring, RestartKeepsEveryEventAndTheRolledBackMode) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  serve::ServeConfig cfg = two_model_config(dir.file("events.db"));
  cfg.routes[0].ab = serve::AbConfig{"primary", "baseline", 100};
  cfg.auth.admin_key_sha256 = serve::key_hash("boss");
  std::vector<std::string> ids;
  {
    LiveServer server(cfg);
    for (int i = 0; i < 25; ++i) ids.push_back(server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 2}}).second["id"]);
    ASSERT_EQ(server.post("/v1/feedback", {{"request_id", ids[3]}, {"overridden", true}}).first, 200);
    ASSERT_EQ(server.post("/admin/routes/default/rollback", json::object(), {{"Authorization", "Bearer boss"}}).first, 200);
  }  // graceful shutdown
  LiveServer again(cfg);
  serve::EventStore& store = again.gateway().store();
  EXPECT_EQ(store.count_requests(), 25);
  EXPECT_EQ(store.count_feedback(), 1);
  EXPECT_EQ(store.count_rollbacks(), 1);
  for (const std::string& id : ids) EXPECT_TRUE(store.has_request(id)) << id;
  EXPECT_EQ(again.gateway().guard().mode("default"), serve::RouteMode::rolled_back);
  EXPECT_EQ(again.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 1}}).second["bitdial"]["backend"], "baseline");
}

TEST(ServerMonitoring, StatusSummarisesTheRecordedTraffic) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  {
    LiveServer server(two_model_config(dir.file("events.db")));
    for (int i = 0; i < 6; ++i) ASSERT_EQ(server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 2}}).first, 200);
  }
  const std::string text = serve::summarize_events(dir.file("events.db"));
  EXPECT_NE(text.find("default"), std::string::npos) << text;
  EXPECT_NE(text.find("primary"), std::string::npos) << text;
  EXPECT_NE(text.find("6"), std::string::npos) << text;
}

}  // namespace
}  // namespace bitdial::test
