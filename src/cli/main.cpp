// bitdial command-line entry: dispatches to one file per subcommand. Parsing and printing only;
// every command is a thin call into the library. Exit codes: 0 success, 1 user error (one line on
// stderr naming what and where), 2 usage error.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "core/omp_wait_policy.h"
#include "kernels/dispatch.h"

namespace {

void print_usage(std::FILE* out) {
  std::fputs(
      "bitdial - measure, don't guess: quantize an LLM, prove it on your data, serve it safely\n"
      "\n"
      "usage: bitdial COMMAND [options]   (bitdial COMMAND --help for details and examples)\n"
      "\n"
      "commands:\n"
      "  inspect FILE [--json]            metadata, tensor table and totals of a GGUF or safetensors model\n"
      "  convert IN OUT [--type T]        GGUF <-> safetensors / Hugging Face folder\n"
      "  run -m MODEL -p TEXT [-n N]      generate text (--temp, --top-k, --top-p, --seed, --dump-logits)\n"
      "  tokenize -m MODEL TEXT [--ids]   token ids and pieces (--file F, --no-bos, --parse-special)\n"
      "  bench -m MODEL [-p N] [-n N]     prompt / generation tokens/s, peak memory, bandwidth, decode and compute efficiency\n"
      "  synth --preset NAME -o OUT       random-weight model of a real shape (--type, --vocab, --seed)\n"
      "  eval -m MODEL [-b BASE] [--text F] [--task F.jsonl]  perplexity, KL divergence, task accuracy, paired stats\n"
      "  imatrix MODEL --calib F -o OUT   importance matrix: mean squared activation per input column of every matrix\n"
      "  quantize IN OUT --type T         presets, --override, --imatrix, --method rtn|gptq|awq, --budget-bpw/--budget-bytes\n"
      "  plan --params 70B --bits 4       memory (weights, KV cache, overhead) and hardware fit and price (or MODEL.gguf --type T)\n"
      "  sweep CONFIG.yaml [-o DIR]       the main job: every candidate quantized, evaluated, timed, priced; floors -> decision + report\n"
      "  serve CONFIG.yaml | -m MODEL     OpenAI-compatible server: cascade, A/B split, monitoring, automatic rollback\n"
      "  train CONFIG.yaml [--resume]     train a small llama on the CPU (checkpoints, held-out loss, GGUF export)\n"
      "  qat CONFIG.yaml                  quantization-aware fine-tuning to a GGUF type or preset (fake quantization, STE)\n"
      "  distill CONFIG.yaml              train a student on a teacher's output distribution\n"
      "  triage-data OUT_DIR              the demo's synthetic support-ticket dataset (train / eval tasks / held-out / calib)\n",
      out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 1;
  }
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    print_usage(stdout);
    return 0;
  }
  if (cmd == "--version") {
    try {
      std::printf("bitdial 0.1.0 (kernels: %s, detected: %s)\n", bitdial::isa_name(bitdial::active_isa()),
                  bitdial::isa_name(bitdial::detected_isa()));
    } catch (const bitdial::Error& e) {
      std::fprintf(stderr, "bitdial: error: %s\n", e.what());
      return 1;
    }
    return 0;
  }
  try {
    for (const bitdial::cli::Command& c : bitdial::cli::commands()) {
      if (cmd != c.name) continue;
      if (c.passive_omp_wait) bitdial::reexec_with_passive_omp_wait(argv);
      return c.run(argc - 1, argv + 1);
    }
  } catch (const bitdial::Error& e) {
    std::fprintf(stderr, "bitdial %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "bitdial %s: error: out of memory\n", cmd.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bitdial %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "bitdial: unknown command '%s' (see bitdial --help)\n", cmd.c_str());
  return 1;
}
