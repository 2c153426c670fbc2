#include "cli/commands.h"

namespace bitdial::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"inspect", run_inspect},
      {"convert", run_convert},
      {"run", run_run},
      {"tokenize", run_tokenize},
      {"bench", run_bench},
      {"synth", run_synth},
      {"eval", run_eval},
      {"quantize", run_quantize},
      {"imatrix", run_imatrix},
      {"plan", run_plan},
      {"sweep", run_sweep},
      {"serve", run_serve},
      {"train", run_train, true},
      {"qat", run_qat, true},
      {"distill", run_distill, true},
      {"triage-data", run_triage_data},
  };
  return table;
}

}  // namespace bitdial::cli
