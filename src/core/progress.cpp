#include "core/progress.h"

#include <unistd.h>

namespace bitdial {

namespace {
constexpr double kTtyRedrawSeconds = 0.1;
constexpr double kLogLineSeconds = 5.0;  // non-TTY: one line every 5 s at most

std::string format_seconds(double s) {
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}
}  // namespace

Progress::Progress(std::string what, size_t total, std::FILE* out)
    : what_(std::move(what)), total_(total), out_(out), tty_(::isatty(::fileno(out)) != 0) {
  start_ = last_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (tty_ && !finished_) std::fputc('\n', out_);
}

void Progress::update(size_t done) {
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  // The final line is finish()'s job; intermediate lines are rate-limited.
  if (done >= total_ || since < (tty_ ? kTtyRedrawSeconds : kLogLineSeconds)) return;
  last_ = now;
  draw(done, false);
}

void Progress::finish() {
  if (finished_) return;
  draw(total_, true);
  finished_ = true;
}

void Progress::draw(size_t done, bool final_line) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  const double eta = frac > 0 ? elapsed * (1.0 - frac) / frac : 0.0;
  if (tty_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(frac * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(out_, "\r%s [%s] %zu/%zu %5.1f%% elapsed %s eta %s ", what_.c_str(), bar.c_str(), done, total_, 100 * frac,
                 format_seconds(elapsed).c_str(), format_seconds(eta).c_str());
    if (final_line) std::fputc('\n', out_);
  } else {
    std::fprintf(out_, "%s: %zu/%zu (%.1f%%) elapsed %s eta %s\n", what_.c_str(), done, total_, 100 * frac,
                 format_seconds(elapsed).c_str(), format_seconds(eta).c_str());
  }
  std::fflush(out_);
}

}  // namespace bitdial
