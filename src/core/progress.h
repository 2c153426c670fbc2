// Progress reporting for long work: a redrawn bar with rate and ETA on a terminal, plain periodic
// lines (at most one every few seconds) otherwise, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace bitdial {

class Progress {
 public:
  // `what` labels the line ("convert", "quantize"); output goes to `out` (stderr by default).
  Progress(std::string what, size_t total, std::FILE* out = stderr);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(size_t done);
  void finish();

 private:
  void draw(size_t done, bool final_line);
  std::string what_;
  size_t total_;
  std::FILE* out_;
  bool tty_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace bitdial
