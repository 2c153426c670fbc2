// Shadow sampling: a share of the answers the primary gave is replayed to the full-precision baseline
// in the background (never delaying the client) and the two answers compared — the same text, or for
// classification the same choice. Replays wait in a bounded queue; a full queue drops the sample.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "serve/events.h"
#include "serve/generation.h"

namespace bitdial::serve {

// "choice" when the primary answered a classification request, else "exact"; and whether two answers agree.
std::string shadow_kind(const GenerationResult& primary);
bool answers_agree(const GenerationResult& primary, const GenerationResult& baseline);

class ShadowReplayer {
 public:
  using Done = std::function<void(const ShadowEvent&)>;
  ShadowReplayer(size_t max_queue, Done done);
  // Replays everything still queued, then stops (nothing sampled is lost on a graceful shutdown).
  ~ShadowReplayer();
  ShadowReplayer(const ShadowReplayer&) = delete;
  ShadowReplayer& operator=(const ShadowReplayer&) = delete;

  // Queues a replay of `request` (made non-streaming) on `baseline`; false when the queue is full.
  // `event` carries request_id, route, primary and baseline names; the replayer fills the rest.
  bool submit(Backend& baseline, GenerationRequest request, const GenerationResult& primary, ShadowEvent event);
  size_t queued() const;

 private:
  struct Item {
    Backend* baseline;
    GenerationRequest request;
    GenerationResult primary;
    ShadowEvent event;
  };
  void loop();

  size_t max_queue_;
  Done done_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace bitdial::serve
