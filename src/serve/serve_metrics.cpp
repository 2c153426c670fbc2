#include "serve/serve_metrics.h"

namespace bitdial::serve::metric {

void declare_all(Metrics& m) {
  m.declare_counter(requests, "Requests answered or refused, by route, serving backend, routing decision and HTTP status.");
  m.declare_counter(errors, "Requests a backend failed (timeout, connection, overload, internal error).");
  m.declare_counter(escalations, "Cascade escalations: the primary's confidence was below the threshold.");
  m.declare_counter(failovers, "Times a backend failed and the next one in the route's failover order was tried.");
  m.declare_histogram(ttft, "Time from arrival to the first generated token.", latency_buckets_seconds());
  m.declare_histogram(inter_token, "Time between consecutive generated tokens of one request.",
                      {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2});
  m.declare_histogram(latency, "Time from arrival to the last byte of the answer.", latency_buckets_seconds());
  m.declare_counter(prompt_tokens, "Prompt tokens evaluated.");
  m.declare_counter(completion_tokens, "Tokens generated.");
  m.declare_gauge(decode_rate, "Generated tokens per second of the backend's latest request (after its first token).");
  m.declare_counter(feedback, "Feedback reports received through /v1/feedback.");
  m.declare_counter(shadow, "Shadow replays of primary answers to the baseline, by outcome.");
  m.declare_counter(shadow_dropped, "Shadow replays dropped because the replay queue was full.");
  m.declare_counter(rollbacks, "Route mode changes: automatic rollbacks and manual rollbacks or promotions.");
  m.declare_gauge(route_mode, "1 for the route's current mode (normal, rolled_back, promoted).");
  m.declare_gauge(rule_value, "Current value of each rollback rule's metric over its window.");
  m.declare_gauge(rule_samples, "Samples in each rollback rule's window (the rule decides once it is full).");
  m.declare_gauge(in_flight, "Requests being answered now.");
  m.declare_counter(rejected, "Requests refused before routing (auth, limits, malformed).");
  m.declare_counter(batch_steps, "Forward passes of a local backend (continuous batching).");
  m.declare_counter(batch_sequences, "Sequences summed over a local backend's forward passes (divide by steps: mean batch).");
}

}  // namespace bitdial::serve::metric
