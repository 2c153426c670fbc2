// 32 concurrent clients against the real server for a few seconds: no errors, and every answered
// request is in the event store after a graceful shutdown (the 60 s figures: bench/serve_load).
#include <gtest/gtest.h>

#include <string>

#include "live_server.h"
#include "serve/load_client.h"

namespace bitdial::test {
namespace {

TEST(ServerLoad, ThirtyTwoClientsGetNoErrorsAndLoseNoEvents) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  serve::ServeConfig cfg = two_model_config(dir.file("events.db"));
  cfg.monitoring.shadow_sample = 0.1;
  serve::LoadReport r;
  {
    LiveServer server(cfg);
    serve::LoadOptions o;
    o.port = server.port();
    o.clients = 32;
    o.seconds = 3;
    o.max_tokens = 8;
    r = serve::run_load(o);
    EXPECT_EQ(r.errors, 0) << r.first_error;
    EXPECT_GT(r.requests, 32);
  }
  serve::EventStore store(dir.file("events.db"));
  EXPECT_EQ(store.count_requests(), r.requests);
  for (const std::string& id : r.request_ids) ASSERT_TRUE(store.has_request(id)) << id;
}

}  // namespace
}  // namespace bitdial::test
