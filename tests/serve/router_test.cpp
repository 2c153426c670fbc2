// Route planning without HTTP: which backend a request goes to, in which order the rest are tried,
// and whether the cascade and the monitors apply.
#include <gtest/gtest.h>

#include "serve/generation.h"
#include "serve/router.h"

namespace bitdial::serve {
namespace {

ServeConfig config() {
  ServeConfig c;
  c.source = "test";
  for (const char* n : {"q4", "f16", "remote"}) {
    BackendConfig b;
    b.name = n;
    b.url = "http://x/v1";
    c.backends.push_back(b);
  }
  c.backends[0].aliases = {"fast"};
  RouteConfig r;
  r.name = "default";
  r.primary = "q4";
  r.fallback = "f16";
  r.cascade = CascadeConfig{};
  r.tasks["legal"] = "remote";
  c.routes = {r};
  return c;
}

TEST(Router, PrimaryWithCascadeThenFallback) {
  const RoutePlan p = plan_route(config(), {}, RouteMode::normal);
  EXPECT_EQ(p.decision, "primary");
  EXPECT_EQ(p.chain, (std::vector<std::string>{"q4", "f16"}));
  EXPECT_TRUE(p.cascade);
  EXPECT_TRUE(p.candidate);
}

TEST(Router, HighStakesGoesToTheFallbackWithoutCascade) {
  RouteInputs in;
  in.high_stakes = true;
  const RoutePlan p = plan_route(config(), in, RouteMode::normal);
  EXPECT_EQ(p.chain.front(), "f16");
  EXPECT_FALSE(p.cascade);
  EXPECT_FALSE(p.candidate);
}

TEST(Router, TaskAndAliasAreHybridRoutes) {
  RouteInputs in;
  in.task = "legal";
  EXPECT_EQ(plan_route(config(), in, RouteMode::normal).chain.front(), "remote");
  RouteInputs alias;
  alias.model = "fast";
  const RoutePlan p = plan_route(config(), alias, RouteMode::normal);
  EXPECT_EQ(p.decision, "hybrid");
  EXPECT_EQ(p.chain.front(), "q4");
}

TEST(Router, RolledBackRouteServesTheControl) {
  const RoutePlan p = plan_route(config(), {}, RouteMode::rolled_back);
  EXPECT_EQ(p.decision, "rolled_back");
  EXPECT_EQ(p.chain.front(), "f16");
  EXPECT_FALSE(p.candidate);
}

TEST(Router, PromotedAbRouteSendsEveryoneToTheCandidate) {
  ServeConfig c = config();
  c.routes[0].ab = AbConfig{"q4", "f16", 0};
  RouteInputs in;
  in.sticky_key = "anyone";
  EXPECT_EQ(plan_route(c, in, RouteMode::normal).chain.front(), "f16");
  EXPECT_EQ(plan_route(c, in, RouteMode::promoted).chain.front(), "q4");
}

TEST(Router, ExplicitFailoverOrderIsKept) {
  ServeConfig c = config();
  c.routes[0].failover = {"remote", "f16"};
  EXPECT_EQ(plan_route(c, {}, RouteMode::normal).chain, (std::vector<std::string>{"q4", "remote", "f16"}));
}

TEST(Router, UnknownModelWithOneRouteTakesIt) {
  RouteInputs in;
  in.model = "gpt-4o-mini";
  EXPECT_EQ(plan_route(config(), in, RouteMode::normal).route->name, "default");
}

}  // namespace
}  // namespace bitdial::serve
