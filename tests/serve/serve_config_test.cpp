// The serve config: the serve.yaml `bitdial sweep` writes loads as is; mistakes name file, line and key.
#include <gtest/gtest.h>

#include "serve/serve_config.h"
#include "test_support.h"

namespace bitdial::test {
namespace {

using serve::parse_serve_config;

// Backends point at this test file itself: the parser only checks that model files exist.
const std::string kModel = BITDIAL_SOURCE_DIR "/tests/serve/serve_config_test.cpp";

TEST(ServeConfig, SweepOutputLoadsWithEverySection) {
  const std::string yaml = "backends:\n  - name: \"q4\"\n    model: \"" + kModel + "\"\n  - name: baseline\n    model: \"" + kModel +
                           "\"\nroutes:\n  - name: default\n    primary: \"q4\"\n    fallback: baseline\n"
                           "    cascade:\n      confidence: choice_probability\n      threshold: 0.42   # note\n"
                           "    ab:\n      candidate: \"q4\"\n      control: baseline\n      percent: 10\n"
                           "monitoring:\n  shadow_sample: 0.05\n"
                           "rollback:\n  - metric: shadow_agreement\n    below: 0.83\n    window: 200\n"
                           "  - metric: override_rate\n    above: 0.12\n    window: 200\n";
  const serve::ServeConfig c = parse_serve_config(yaml, "serve.yaml", ".");
  ASSERT_EQ(c.backends.size(), 2u);
  EXPECT_TRUE(c.backends[0].local());
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].primary, "q4");
  ASSERT_TRUE(c.routes[0].cascade);
  EXPECT_DOUBLE_EQ(c.routes[0].cascade->threshold, 0.42);
  EXPECT_EQ(c.routes[0].cascade->confidence.kind, serve::ConfidenceKind::choice_probability);
  ASSERT_TRUE(c.routes[0].ab);
  EXPECT_DOUBLE_EQ(c.routes[0].ab->percent, 10);
  EXPECT_DOUBLE_EQ(c.monitoring.shadow_sample, 0.05);
  EXPECT_EQ(c.rollback.size(), 2u);
  EXPECT_EQ(c.host, "127.0.0.1");  // loopback unless told otherwise
}

TEST(ServeConfig, UnknownKeyNamesLineAndAllowedKeys) {
  const std::string msg = error_of([] { parse_serve_config("backends:\n  - name: a\n    url: http://x/v1\n    retrys: 2\nroutes: []\n", "s.yaml", "."); });
  EXPECT_NE(msg.find("s.yaml:4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("retries"), std::string::npos) << msg;
}

TEST(ServeConfig, MissingModelFileIsNamed) {
  const std::string msg = error_of([] { parse_serve_config("backends:\n  - name: a\n    model: nowhere.gguf\nroutes:\n  - name: r\n    primary: a\n", "s.yaml", "/tmp"); });
  EXPECT_NE(msg.find("nowhere.gguf does not exist"), std::string::npos) << msg;
}

TEST(ServeConfig, PercentOutsideZeroToHundredIsRejected) {
  const std::string yaml = "backends:\n  - name: a\n    url: http://x/v1\n  - name: b\n    url: http://y/v1\nroutes:\n  - name: r\n"
                           "    primary: a\n    ab:\n      candidate: a\n      control: b\n      percent: 120\n";
  const std::string msg = error_of([&] { parse_serve_config(yaml, "s.yaml", "."); });
  EXPECT_NE(msg.find("s.yaml:12"), std::string::npos) << msg;
}

TEST(ServeConfig, CascadeNeedsAFallback) {
  const std::string yaml = "backends:\n  - name: a\n    url: http://x/v1\nroutes:\n  - name: r\n    primary: a\n    cascade:\n      threshold: 0.5\n";
  EXPECT_NE(error_of([&] { parse_serve_config(yaml, "s.yaml", "."); }).find("needs a 'fallback'"), std::string::npos);
}

TEST(ServeConfig, ApiKeysAreStoredOnlyAsHashes) {
  const std::string yaml = "backends:\n  - name: a\n    url: http://x/v1\nroutes:\n  - name: r\n    primary: a\nauth:\n  api_key_sha256: secret\n";
  EXPECT_NE(error_of([&] { parse_serve_config(yaml, "s.yaml", "."); }).find("64 hex digits"), std::string::npos);
  const serve::ServeConfig c = parse_serve_config(
      "backends:\n  - name: a\n    url: http://x/v1\nroutes:\n  - name: r\n    primary: a\nauth:\n  api_key_sha256: [" + serve::key_hash("k") + "]\n",
      "s.yaml", ".");
  EXPECT_EQ(c.auth.api_key_sha256[0], serve::key_hash("k"));
}

TEST(ServeConfig, DuplicateBackendNameIsRejected) {
  const std::string yaml = "backends:\n  - name: a\n    url: http://x/v1\n  - name: a\n    url: http://y/v1\nroutes:\n  - name: r\n    primary: a\n";
  EXPECT_NE(error_of([&] { parse_serve_config(yaml, "s.yaml", "."); }).find("used twice"), std::string::npos);
}

}  // namespace
}  // namespace bitdial::test
