// A bounded load generator for an OpenAI-compatible server: N clients, each with its own keep-alive
// connection, send completions back to back for a fixed time; the report gives requests/s, tokens/s
// and latency percentiles, and keeps every answered request id so a test can check none was lost.
// BITDIAL_LOAD_DEBUG=1 prints each failed request (client, index, error, time) on stderr.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bitdial::serve {

struct LoadOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  int clients = 32;
  double seconds = 60;
  int max_tokens = 16;
  bool stream = false;
  std::string model;         // "" : none sent
  std::string api_key;       // "" : none sent
};

struct LoadReport {
  int64_t requests = 0;      // answered with HTTP 200
  int64_t errors = 0;        // anything else, connection failures included
  std::string first_error;
  double seconds = 0;        // wall time of the run
  int64_t completion_tokens = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
  std::vector<std::string> request_ids;
  double requests_per_second() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
  double tokens_per_second() const { return seconds > 0 ? static_cast<double>(completion_tokens) / seconds : 0; }
};

LoadReport run_load(const LoadOptions& options);

// One line per figure, for the tool and the closing notes.
std::string render_load_report(const LoadOptions& options, const LoadReport& report);

}  // namespace bitdial::serve
