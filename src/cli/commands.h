// The subcommand table: each command lives in its own file in cli/ and parses its own options.
// run() receives argv starting at the command name and returns the process exit code; it may
// throw bitdial::Error, which main() prints as one line with exit code 1.
#pragma once

#include <vector>

namespace bitdial::cli {

struct Command {
  const char* name;
  int (*run)(int argc, char** argv);
  bool passive_omp_wait = false;  // start with OMP_WAIT_POLICY=passive unless the user set it
};

const std::vector<Command>& commands();

int run_inspect(int argc, char** argv);
int run_convert(int argc, char** argv);
int run_run(int argc, char** argv);
int run_tokenize(int argc, char** argv);
int run_bench(int argc, char** argv);
int run_synth(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_quantize(int argc, char** argv);
int run_imatrix(int argc, char** argv);
int run_plan(int argc, char** argv);
int run_sweep(int argc, char** argv);
int run_serve(int argc, char** argv);
int run_train(int argc, char** argv);
int run_qat(int argc, char** argv);
int run_distill(int argc, char** argv);
int run_triage_data(int argc, char** argv);

}  // namespace bitdial::cli
