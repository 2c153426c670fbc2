// Small helpers shared by the subcommand files: CLI11 parsing with bitdial's exit codes (1 for
// usage errors, like every other bad input; 0 for --help) and JSON printing that tolerates non-UTF-8 bytes in token strings.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include <nlohmann/json.hpp>

namespace bitdial::cli {

// Parses argv (argv[0] is the command name); returns -1 to continue, otherwise the exit code.
int parse_args(CLI::App& app, int argc, char** argv);

// While alive, SIGINT and SIGTERM set a flag instead of killing the process (the first one: a second
// one kills it the default way), so long work can stop at its next check and delete its temporaries.
// The previous handlers come back when it dies. One at a time per process.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  static bool raised();  // a signal arrived since the guard was made

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

// Pretty JSON; invalid UTF-8 in strings becomes U+FFFD instead of throwing.
std::string json_text(const nlohmann::ordered_json& j);

}  // namespace bitdial::cli

#define CLI11_PARSE_OR_RETURN(app, argc, argv)                            \
  do {                                                                    \
    const int parse_rc_ = ::bitdial::cli::parse_args((app), (argc), (argv)); \
    if (parse_rc_ >= 0) return parse_rc_;                                 \
  } while (0)
