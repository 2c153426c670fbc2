#include "serve/shadow_replayer.h"

#include <chrono>
#include <exception>

namespace bitdial::serve {

std::string shadow_kind(const GenerationResult& primary) { return primary.chosen >= 0 ? "choice" : "exact"; }

bool answers_agree(const GenerationResult& primary, const GenerationResult& baseline) {
  if (primary.chosen >= 0) return primary.chosen == baseline.chosen;
  return primary.text == baseline.text;
}

ShadowReplayer::ShadowReplayer(size_t max_queue, Done done) : max_queue_(max_queue), done_(std::move(done)) {
  thread_ = std::thread([this] { loop(); });
}

ShadowReplayer::~ShadowReplayer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool ShadowReplayer::submit(Backend& baseline, GenerationRequest request, const GenerationResult& primary, ShadowEvent event) {
  request.stream = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= max_queue_ || stopping_) return false;
    queue_.push_back(Item{&baseline, std::move(request), primary, std::move(event)});
  }
  cv_.notify_one();
  return true;
}

size_t ShadowReplayer::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void ShadowReplayer::loop() {
  for (;;) {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    ShadowEvent& e = item.event;
    e.kind = shadow_kind(item.primary);
    e.primary_answer = item.primary.text;
    try {
      const GenerationResult base = item.baseline->generate(item.request, nullptr);
      e.baseline_answer = base.text;
      e.agree = answers_agree(item.primary, base);
    } catch (const std::exception& ex) {
      e.error = ex.what();
    }
    e.time = event_time_now();
    done_(e);
  }
}

}  // namespace bitdial::serve
