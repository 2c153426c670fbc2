#include "train/train_log.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "core/tensor_type.h"

namespace bitdial {

namespace {

constexpr double kTtyRedrawSeconds = 0.1;
constexpr double kLogLineSeconds = 5.0;  // same pacing as core/progress.cpp

std::string duration_text(double s) {
  char buf[32];
  const long t = static_cast<long>(std::max(0.0, s) + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

std::string rate_text(double tokens_per_second) {
  char buf[32];
  if (tokens_per_second >= 1e3) std::snprintf(buf, sizeof buf, "%.1fk tok/s", tokens_per_second / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f tok/s", tokens_per_second);
  return buf;
}

}  // namespace

std::string format_train_step(const TrainEvent& e, std::optional<double> heldout) {
  char buf[256];
  int n = std::snprintf(buf, sizeof buf, "step %lld/%lld loss %.4f", static_cast<long long>(e.step),
                        static_cast<long long>(e.total_steps), e.smoothed_loss);
  std::string s(buf, static_cast<size_t>(n));
  if (heldout) {
    n = std::snprintf(buf, sizeof buf, " held-out %.4f", *heldout);
    s.append(buf, static_cast<size_t>(n));
  }
  n = std::snprintf(buf, sizeof buf, " lr %.2e %s elapsed %s eta %s", e.lr, rate_text(e.tokens_per_second).c_str(),
                    duration_text(e.elapsed_seconds).c_str(), duration_text(e.eta_seconds).c_str());
  s.append(buf, static_cast<size_t>(n));
  return s;
}

nlohmann::ordered_json train_result_json(const TrainRun& run, const TrainResult& r) {
  using json = nlohmann::ordered_json;
  const auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  json j;
  j["steps"] = run.settings.steps;
  j["first_step"] = r.first_step;
  j["steps_done"] = r.steps_done;
  j["interrupted"] = r.interrupted;
  j["params"] = r.params.numel();
  j["loss"] = r.losses.empty() ? json(nullptr) : json(r.losses.back());
  j["smoothed_loss"] = r.losses.empty() ? json(nullptr) : json(r.smoothed_loss);
  j["heldout_loss_initial"] = opt(r.initial_heldout_loss);
  j["heldout_loss_final"] = opt(r.final_heldout_loss);
  j["heldout_step_final"] = r.final_heldout_loss ? json(r.final_heldout_step) : json(nullptr);
  j["tokens_seen"] = r.tokens_seen;
  j["train_seconds"] = r.train_seconds;
  j["tokens_per_second"] = r.tokens_per_second;
  j["seconds"] = r.seconds;
  j["checkpoint"] = r.checkpoint_written ? json(run.checkpoint_path) : json(nullptr);
  if (r.exported) {
    j["model"] = {{"path", run.output_path},
                  {"type", type_name(run.export_options.type)},
                  {"bytes", r.exported->file_bytes},
                  {"tensors", r.exported->tensors}};
  } else {
    j["model"] = nullptr;
  }
  j["losses"] = r.losses;
  return j;
}

TrainLog::TrainLog(std::FILE* out) : TrainLog(out, ::isatty(::fileno(out)) != 0) {}

TrainLog::TrainLog(std::FILE* out, bool tty) : out_(out), tty_(tty), last_(std::chrono::steady_clock::now()) {}

void TrainLog::operator()(const TrainEvent& e) {
  const char* end_redraw = open_line_ ? "\n" : "";
  switch (e.kind) {
    case TrainEvent::Kind::start: {
      heldout_ = e.heldout_loss;
      std::fprintf(out_, "train: %s at step %lld/%lld", e.first_step > 0 ? "resuming" : "starting",
                   static_cast<long long>(e.step), static_cast<long long>(e.total_steps));
      if (e.heldout_loss) std::fprintf(out_, ", held-out loss %.4f", *e.heldout_loss);
      std::fputc('\n', out_);
      break;
    }
    case TrainEvent::Kind::step: {
      if (e.heldout_loss) heldout_ = e.heldout_loss;
      const bool keep = e.heldout_loss.has_value() || e.checkpointed;
      const auto now = std::chrono::steady_clock::now();
      const double since = std::chrono::duration<double>(now - last_).count();
      if (!keep && since < (tty_ ? kTtyRedrawSeconds : kLogLineSeconds)) return;
      last_ = now;
      const std::string line = format_train_step(e, heldout_) + (e.checkpointed ? " [checkpoint]" : "");
      if (tty_) {
        // \x1b[K clears what a longer previous line left behind.
        std::fprintf(out_, "\rtrain: %s\x1b[K%s", line.c_str(), keep ? "\n" : "");
        open_line_ = !keep;
      } else {
        std::fprintf(out_, "train: %s\n", line.c_str());
      }
      break;
    }
    case TrainEvent::Kind::done: {
      std::fprintf(out_, "%strain: %s at step %lld/%lld", end_redraw, e.step < e.total_steps ? "stopped" : "done",
                   static_cast<long long>(e.step), static_cast<long long>(e.total_steps));
      if (e.step > e.first_step) std::fprintf(out_, ", loss %.4f", e.smoothed_loss);
      if (e.heldout_loss) std::fprintf(out_, ", held-out %.4f", *e.heldout_loss);
      if (e.heldout_loss && e.heldout_step != e.step)
        std::fprintf(out_, " (evaluated at step %lld)", static_cast<long long>(e.heldout_step));
      std::fprintf(out_, ", %s, %s\n", rate_text(e.tokens_per_second).c_str(), duration_text(e.elapsed_seconds).c_str());
      open_line_ = false;
      break;
    }
  }
  std::fflush(out_);
}

}  // namespace bitdial
