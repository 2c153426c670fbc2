// bitdial triage-data OUT_DIR [--seed N] [--train-examples N] [--heldout-examples N] ...
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "train/triage_data.h"

namespace bitdial::cli {

int run_triage_data(int argc, char** argv) {
  CLI::App app{
      "Write the bundled demo's data set: synthetic customer-support tickets labelled with their intent,\n"
      "with the slices quantization tends to break (short, typo, long, mixed_case, rare). Same options ->\n"
      "identical bytes on every machine. Files (each written atomically; OUT_DIR is created):\n"
      "  train.txt    training text for `bitdial train` (\"Ticket: <text>\\nIntent: <label>\" paragraphs)\n"
      "  tasks.jsonl  the eval task file for `bitdial eval --task` / sweep (choices scored as \" <label>\")\n"
      "  heldout.txt  held-out text (train's data.heldout, eval --text)\n"
      "  calib.txt    calibration text (imatrix, GPTQ, AWQ)\n"
      "\n"
      "examples:\n"
      "  bitdial triage-data examples/triage --seed 1 --train-examples 12000 --rare-share 0.1 --short-share 0.3 \\\n"
      "      --mixed-case-share 0.2 --typo-share 0.15 --long-share 0.1   (the demo's data: examples/triage/make_data.sh)\n"
      "  bitdial triage-data /tmp/triage --seed 7 --train-examples 500 --eval-per-style 20",
      "bitdial triage-data"};
  std::string dir;
  TriageOptions o;
  app.add_option("OUT_DIR", dir, "folder for the four files")->required();
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  app.add_option("--train-examples", o.train_examples, "examples in train.txt")->capture_default_str();
  app.add_option("--heldout-examples", o.heldout_examples, "examples in heldout.txt")->capture_default_str();
  app.add_option("--calib-examples", o.calib_examples, "examples in calib.txt")->capture_default_str();
  app.add_option("--eval-per-style", o.eval_per_style, "eval examples of the common intents per style")->capture_default_str();
  app.add_option("--eval-rare", o.eval_rare, "eval examples of the rare intent(s)")->capture_default_str();
  app.add_option("--rare-share", o.rare_share, "share of the rare intent(s) in train/held-out/calib")->capture_default_str();
  app.add_option("--short-share", o.short_share, "share of very short tickets")->capture_default_str();
  app.add_option("--typo-share", o.typo_share, "share of tickets with typos")->capture_default_str();
  app.add_option("--long-share", o.long_share, "share of long rambling tickets")->capture_default_str();
  app.add_option("--mixed-case-share", o.mixed_case_share, "share of ALL CAPS / rAnDoM case tickets")->capture_default_str();
  app.add_option("--typo-rate", o.typo_rate, "chance of an edit per letter of a typo ticket")->capture_default_str();
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  const TriageDataset d = generate_triage(o);
  write_triage_files(d, dir);
  std::printf("wrote %s/{%s, %s, %s, %s}: %zu training, %zu eval, %zu held-out, %zu calibration examples, %zu intents\n",
              dir.c_str(), kTriageTrainFile.data(), kTriageTaskFile.data(), kTriageHeldoutFile.data(),
              kTriageCalibFile.data(), d.train.size(), d.eval.size(), d.heldout.size(), d.calib.size(), d.labels.size());
  return 0;
}

}  // namespace bitdial::cli
