#include "serve/load_client.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

namespace bitdial::serve {
namespace {

using Clock = std::chrono::steady_clock;

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// Prompts of different lengths so batches mix prefill and decode steps.
const char* const kPrompts[] = {"Once upon a time", "The little dog ran to the park and", "Lily had a red ball. She",
                                "One day, a boy named Tom found a big box in the garden. He opened it and saw",
                                "The sun was"};

}  // namespace

LoadReport run_load(const LoadOptions& o) {
  LoadReport report;
  std::mutex mu;
  std::vector<double> latencies;
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client cli(o.host, o.port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      cli.set_read_timeout(120, 0);
      httplib::Headers headers;
      if (!o.api_key.empty()) headers.emplace("Authorization", "Bearer " + o.api_key);
      std::vector<double> mine;
      std::vector<std::string> ids;
      int64_t ok = 0, bad = 0, tokens = 0;
      std::string first_error;
      for (int64_t k = 0; Clock::now() < end; ++k) {
        nlohmann::json body = {{"prompt", kPrompts[(c + k) % 5]}, {"max_tokens", o.max_tokens}, {"temperature", 0},
                               {"user", "load-" + std::to_string(c)}};
        if (o.stream) body["stream"] = true;
        if (!o.model.empty()) body["model"] = o.model;
        const Clock::time_point t0 = Clock::now();
        const auto res = cli.Post("/v1/completions", headers, body.dump(), "application/json");
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (res && res->status == 200) {
          ++ok;
          mine.push_back(ms);
          ids.push_back(res->get_header_value("X-Request-Id"));
          if (!o.stream) {
            const nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
            if (j.is_object() && j.contains("usage")) tokens += j["usage"].value("completion_tokens", 0);
          }
        } else {
          ++bad;
          if (std::getenv("BITDIAL_LOAD_DEBUG"))
            std::fprintf(stderr, "client %d request %lld: %s after %.1f ms at %.3f s\n", c, static_cast<long long>(k),
                         res ? "http error" : httplib::to_string(res.error()).c_str(), ms,
                         std::chrono::duration<double>(t0 - start).count());
          if (first_error.empty())
            first_error = res ? "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200)
                              : "connection error " + httplib::to_string(res.error());
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      report.requests += ok;
      report.errors += bad;
      report.completion_tokens += tokens;
      if (report.first_error.empty()) report.first_error = first_error;
      latencies.insert(latencies.end(), mine.begin(), mine.end());
      report.request_ids.insert(report.request_ids.end(), ids.begin(), ids.end());
    });
  }
  for (std::thread& t : threads) t.join();
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  report.p50_ms = percentile(latencies, 0.50);
  report.p90_ms = percentile(latencies, 0.90);
  report.p99_ms = percentile(latencies, 0.99);
  report.max_ms = latencies.empty() ? 0 : latencies.back();
  return report;
}

std::string render_load_report(const LoadOptions& o, const LoadReport& r) {
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "clients %d, %.1f s, max_tokens %d%s\n"
                "requests %lld (errors %lld), %.1f requests/s, %.0f completion tokens/s\n"
                "latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n",
                o.clients, r.seconds, o.max_tokens, o.stream ? ", streaming" : "", static_cast<long long>(r.requests),
                static_cast<long long>(r.errors), r.requests_per_second(), r.tokens_per_second(), r.p50_ms, r.p90_ms, r.p99_ms,
                r.max_ms);
  std::string s = buf;
  if (!r.first_error.empty()) s += "first error: " + r.first_error + "\n";
  return s;
}

}  // namespace bitdial::serve
