// bitdial serve CONFIG.yaml | bitdial serve -m PRIMARY [--fallback BASE] [--cascade-threshold T] [--ab PCT] ...
// bitdial serve --status DB
#include <CLI/CLI.hpp>
#include <omp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/error.h"
#include "serve/gateway.h"
#include "serve/http_server.h"
#include "serve/quick_config.h"
#include "serve/status.h"

namespace bitdial::cli {

int run_serve(int argc, char** argv) {
  CLI::App app{
      "OpenAI-compatible gateway: /v1/completions and /v1/chat/completions (streaming, logprobs, echo),\n"
      "/v1/models, /v1/feedback, /health, /metrics (Prometheus) and /admin/routes. Local GGUF backends run\n"
      "with continuous batching; upstream OpenAI-compatible endpoints are proxied with timeouts and retries.\n"
      "Routes cascade to the baseline when the primary is unsure, split A/B traffic (sticky per `user`),\n"
      "route by task or model alias, force the baseline for high-stakes requests and fail over when a\n"
      "backend is down. Every request, feedback, shadow comparison and rollback goes to a SQLite database\n"
      "(WAL); rollback rules move traffic back to the control on their own. Listens on 127.0.0.1 unless\n"
      "told otherwise. Config format, routing rules and metrics: docs/serve.md.\n\n"
      "examples:\n"
      "  bitdial serve out/sweep/serve.yaml\n"
      "  bitdial serve -m q4.gguf --fallback f16.gguf --cascade-threshold 0.6 --port 8080\n"
      "  bitdial serve -m q4.gguf --fallback http://10.0.0.5:8000/v1 --ab 10 --shadow-sample 0.05\n"
      "  API_KEY=secret bitdial serve -m q4.gguf --api-key-env API_KEY\n"
      "  bitdial serve --status bitdial-events.db",
      "bitdial serve"};
  std::string config_path, status_db, host, db, api_key_env, admin_key_env;
  std::optional<int> port;
  serve::QuickServeOptions q;
  std::optional<double> threshold, ab;
  int threads = 0;
  app.add_option("CONFIG", config_path, "serve config (YAML), e.g. the serve.yaml `bitdial sweep` writes");
  app.add_option("--status", status_db, "summarise an event database and exit");
  app.add_option("-m,--model", q.primary, "primary model: GGUF file or http(s)://host/v1");
  app.add_option("--fallback", q.fallback, "baseline: cascade target, failover, high-stakes and A/B control");
  app.add_option("--cascade-threshold", threshold, "escalate to --fallback when confidence is below T (0..1)");
  app.add_option("--confidence", q.confidence,
                 "confidence measure: mixed, mean_token_probability, min_token_probability, "
                 "token_probability_quantile, choice_probability, choice_margin")
      ->capture_default_str();
  app.add_option("--ab", ab, "send PERCENT of users to the primary, the rest to --fallback");
  app.add_option("--shadow-sample", q.shadow_sample, "share of primary answers replayed to --fallback (0..1)");
  app.add_option("--upstream-key-env", q.upstream_api_key_env, "env var with the bearer token for URL backends");
  app.add_option("--max-batch", q.max_batch, "sequences per forward pass of a local model (1: no continuous batching)")
      ->capture_default_str();
  app.add_option("--host", host, "address to listen on (default 127.0.0.1)");
  app.add_option("--port", port, "port (default 8080; 0: any free port, printed)");
  app.add_option("--db", db, "event database (default bitdial-events.db)");
  app.add_option("--api-key-env", api_key_env, "env var holding the API key clients must send");
  app.add_option("--admin-key-env", admin_key_env, "env var holding the admin key (/admin endpoints)");
  app.add_option("-t,--threads", threads, "threads of the forward pass (default: all cores)");
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  if (!status_db.empty()) {
    std::fputs(serve::summarize_events(status_db).c_str(), stdout);
    return 0;
  }
  if (config_path.empty() == q.primary.empty()) fail("give either a CONFIG.yaml or -m PRIMARY (see --help)");
  serve::ServeConfig config;
  if (!config_path.empty()) {
    if (threshold || ab || !q.fallback.empty()) fail("--fallback, --cascade-threshold and --ab go with -m; a CONFIG.yaml sets them itself");
    config = serve::load_serve_config(config_path);
  } else {
    q.cascade_threshold = threshold;
    q.ab_percent = ab;
    config = serve::quick_serve_config(q);
  }
  if (!host.empty()) config.host = host;
  if (port) config.port = *port;
  if (!db.empty()) config.db = db;
  if (!api_key_env.empty()) serve::add_key_from_env(config, api_key_env, false);
  if (!admin_key_env.empty()) serve::add_key_from_env(config, admin_key_env, true);
  if (threads < 0) fail("--threads ", threads, " is negative");
  if (threads > 0) config.engine_threads = threads;
  if (config.engine_threads > 0) omp_set_num_threads(config.engine_threads);

  InterruptGuard interrupt;
  serve::Gateway gateway(config, serve::start_backends(config));
  serve::HttpServer server(gateway);
  const int bound = server.bind(config.host, config.port);
  std::fprintf(stderr, "bitdial serve: listening on http://%s:%d/v1 (events: %s)\n", config.host.c_str(), bound, config.db.c_str());
  for (const serve::BackendConfig& b : config.backends)
    std::fprintf(stderr, "  backend %s: %s\n", b.name.c_str(), b.local() ? b.model.c_str() : b.url.c_str());
  std::fflush(stderr);
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    bool said = false;
    while (!done.load()) {
      if (InterruptGuard::raised()) {
        if (!said) std::fprintf(stderr, "bitdial serve: stopping; finishing requests in flight\n");
        said = true;
        server.stop();  // again each round: a stop before run() started accepting would be lost
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  server.run();
  done = true;
  watcher.join();
  std::fprintf(stderr, "bitdial serve: stopped\n");
  return 0;
}

}  // namespace bitdial::cli
