// Routing over real HTTP: the cascade escalates below its threshold, the A/B split is sticky per
// user, high-stakes and task routing pick their backends, and a down upstream fails over.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "fake_http.h"
#include "live_server.h"

namespace bitdial::test {
namespace {

using nlohmann::json;

serve::ServeConfig cascade_config(const std::string& db, double threshold) {
  serve::ServeConfig c = two_model_config(db);
  c.routes[0].cascade = serve::CascadeConfig{serve::parse_confidence("mean_token_probability", 0.1), threshold};
  return c;
}

TEST(ServerRouting, CascadeEscalatesWhenConfidenceIsBelowTheThreshold) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  LiveServer server(cascade_config(dir.file("events.db"), 1.0));  // no answer is that sure
  const auto [status, j] = server.post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 8}, {"temperature", 0}});
  ASSERT_EQ(status, 200) << j.dump();
  EXPECT_EQ(j["bitdial"]["backend"], "baseline");
  EXPECT_EQ(j["bitdial"]["decision"], "cascade_escalated");
  EXPECT_LT(j["bitdial"]["confidence"].get<double>(), 1.0);
}

TEST(ServerRouting, CascadeKeepsThePrimaryAnswerAtOrAboveTheThreshold) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  LiveServer server(cascade_config(dir.file("events.db"), 0.0));
  const auto [status, j] = server.post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 8}, {"temperature", 0}});
  ASSERT_EQ(status, 200);
  EXPECT_EQ(j["bitdial"]["backend"], "primary");
  EXPECT_EQ(j["bitdial"]["escalated"], false);
}

TEST(ServerRouting, StreamedCascadeSendsTheEscalatedAnswer) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  LiveServer server(cascade_config(dir.file("events.db"), 1.0));
  httplib::Client c = server.client();
  const auto res = c.Post("/v1/completions", R"({"prompt":"Once upon a time","max_tokens":6,"temperature":0,"stream":true})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find(R"("decision":"cascade_escalated")"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("data: [DONE]"), std::string::npos);
}

TEST(ServerRouting, CascadeWhoseFallbackIsDownKeepsThePrimaryAnswer) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  RefusingPort down;
  serve::ServeConfig cfg = cascade_config(dir.file("events.db"), 1.0);
  cfg.backends.push_back(upstream_backend("remote", down.url()));
  cfg.routes[0].fallback = "remote";
  LiveServer server(cfg);
  const auto [status, j] = server.post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 4}, {"temperature", 0}});
  ASSERT_EQ(status, 200) << j.dump();
  EXPECT_EQ(j["bitdial"]["backend"], "primary");
  EXPECT_EQ(j["bitdial"]["escalation_failed"], true);
}

TEST(ServerRouting, AbSplitIsStickyPerUserAndUsesBothArms) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  serve::ServeConfig cfg = two_model_config(dir.file("events.db"));
  cfg.routes[0].ab = serve::AbConfig{"primary", "baseline", 50};
  LiveServer server(cfg);
  std::set<std::string> arms;
  for (int u = 0; u < 24; ++u) {
    const std::string user = "user-" + std::to_string(u);
    std::string first;
    for (int k = 0; k < 3; ++k) {
      const auto [status, j] = server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 1}, {"user", user}});
      ASSERT_EQ(status, 200);
      const std::string b = j["bitdial"]["backend"];
      if (k == 0) first = b;
      EXPECT_EQ(b, first) << user << " moved between arms";
    }
    arms.insert(first);
  }
  EXPECT_EQ(arms, (std::set<std::string>{"baseline", "primary"}));
}

TEST(ServerRouting, HighStakesHeaderForcesTheBaseline) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  LiveServer server(two_model_config(dir.file("events.db")));
  const json body = {{"prompt", "Hi"}, {"max_tokens", 1}};
  EXPECT_EQ(server.post("/v1/completions", body).second["bitdial"]["backend"], "primary");
  const auto [status, j] = server.post("/v1/completions", body, {{"X-Bitdial-High-Stakes", "1"}});
  EXPECT_EQ(j["bitdial"]["backend"], "baseline");
  EXPECT_EQ(j["bitdial"]["decision"], "high_stakes");
  json field = body;
  field["high_stakes"] = true;
  EXPECT_EQ(server.post("/v1/completions", field).second["bitdial"]["backend"], "baseline");
}

TEST(ServerRouting, TaskFieldRoutesToItsConfiguredBackend) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  serve::ServeConfig cfg = two_model_config(dir.file("events.db"));
  cfg.routes[0].tasks["legal"] = "baseline";
  LiveServer server(cfg);
  const auto [status, j] = server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 1}, {"task", "legal"}});
  EXPECT_EQ(j["bitdial"]["backend"], "baseline");
  EXPECT_EQ(j["bitdial"]["decision"], "hybrid");
  EXPECT_EQ(server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 1}, {"task", "chat"}}).second["bitdial"]["backend"], "primary");
}

TEST(ServerRouting, DownUpstreamFailsOverToTheNextBackend) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  RefusingPort down;
  serve::ServeConfig cfg = two_model_config(dir.file("events.db"));
  cfg.backends.push_back(upstream_backend("remote", down.url()));
  cfg.routes[0].primary = "remote";
  cfg.routes[0].failover = {"baseline"};
  LiveServer server(cfg);
  const auto [status, j] = server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 2}});
  ASSERT_EQ(status, 200) << j.dump();
  EXPECT_EQ(j["bitdial"]["backend"], "baseline");
  EXPECT_EQ(j["bitdial"]["failed_over"], json::array({"remote"}));
}

TEST(ServerRouting, EveryBackendDownIs502WithTheReason) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  RefusingPort down;
  serve::ServeConfig cfg = two_model_config(dir.file("events.db"));
  cfg.backends.push_back(upstream_backend("remote", down.url()));
  cfg.routes[0].primary = "remote";
  cfg.routes[0].fallback = "";
  LiveServer server(cfg);
  const auto [status, j] = server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 2}});
  EXPECT_EQ(status, 502) << j.dump();
  EXPECT_NE(j["error"]["message"].get<std::string>().find(down.url()), std::string::npos) << j.dump();
}

TEST(ServerRouting, UnknownModelWithSeveralRoutesIs400) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  serve::ServeConfig cfg = two_model_config(dir.file("events.db"));
  cfg.routes[0].name = "fast";
  serve::RouteConfig careful;
  careful.name = "careful";
  careful.primary = "baseline";
  cfg.routes.push_back(careful);
  LiveServer server(cfg);
  EXPECT_EQ(server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 1}, {"model", "careful"}}).second["bitdial"]["backend"], "baseline");
  const auto [status, j] = server.post("/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 1}, {"model", "gpt-9"}});
  EXPECT_EQ(status, 400);
  EXPECT_EQ(j["error"]["param"], "model");
}

}  // namespace
}  // namespace bitdial::test
