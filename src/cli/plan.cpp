// bitdial plan (--params N | MODEL.gguf) [--bits B | --type T] [--context N] [--batch N] [--kv f16|q8_0]
//              [--hardware FILE] [--json]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/error.h"
#include "decide/hardware_catalog.h"
#include "decide/memory_plan.h"
#include "formats/gguf.h"

namespace bitdial::cli {

int run_plan(int argc, char** argv) {
  CLI::App app{
      "Plan memory and hardware before quantizing: weights, KV cache (n_layer x 2 x context x batch x\n"
      "KV heads x head size x bytes) and runtime overhead, then for every catalogue row whether it fits\n"
      "on one device, how many devices it needs (split tensor-parallel) and what they cost per hour.\n"
      "From a parameter count the shape is a published llama-family config (1B, 3B, 7B, 8B, 13B, 34B,\n"
      "70B, 405B) or a scaling rule (docs/plan.md); from a GGUF file it is read from the file.\n"
      "--bits: weights = params x bits / 8. --type PRESET: the preset's per-tensor plan (exact for a file).\n"
      "Weights and totals in GB = 1e9 bytes; device memory in GiB = 2^30 bytes.\n\n"
      "examples:\n"
      "  bitdial plan --params 70B --bits 4\n"
      "  bitdial plan --params 70B --type Q4_K_M --context 8192 --batch 16 --kv q8_0\n"
      "  bitdial plan model-f16.gguf --type Q4_K_M --json\n"
      "  bitdial plan --params 8B --bits 16 --hardware my-prices.yaml",
      "bitdial plan"};
  std::string model_path, params_text, type, kv = "f16", hardware_file;
  std::optional<double> bits;
  MemoryOptions opt;
  bool json = false;
  app.add_option("MODEL", model_path, "GGUF model file (instead of --params)");
  app.add_option("--params", params_text, "parameter count: 70B, 6.7B, 500M, 7e9");
  app.add_option("--bits", bits, "bits per weight (32 FP32, 16 FP16, 8 INT8, 4 INT4, 4.5 ...)");
  app.add_option("--type", type, "quantization preset (Q4_K_M, Q8_0, F16 ...)");
  app.add_option("--context", opt.context, "tokens per sequence held in the KV cache")->capture_default_str();
  app.add_option("--batch", opt.batch, "sequences served at once")->capture_default_str();
  app.add_option("--kv", kv, "KV cache type: f16 or q8_0")->capture_default_str();
  app.add_option("--hardware", hardware_file, "YAML file adding or overriding catalogue rows (data/hardware.yaml schema)");
  app.add_flag("--json", json, "print a JSON object (docs/plan.md) instead of the table");
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  if (model_path.empty() == params_text.empty()) fail("give either a MODEL file or --params (see --help)");
  if (bits && !type.empty()) fail("--bits and --type exclude each other: give one");
  opt.kv = parse_kv_element(kv);
  validate_memory_options(opt);
  const HardwareCatalog catalog = load_hardware_catalog(hardware_file);

  ModelShape shape;
  WeightEstimate weights;
  if (!params_text.empty()) {
    if (!bits && type.empty()) fail("--params needs --bits or --type");
    const uint64_t params = parse_param_count(params_text);
    shape = shape_for_params(params);
    weights = bits ? weights_from_bits(params, *bits) : weights_from_preset(shape, params, type);
  } else {
    const GgufFile file = GgufFile::open(model_path);
    shape = shape_from_gguf(file);
    if (bits) weights = weights_from_bits(shape.params, *bits);
    else weights = weights_from_file(file, type.empty() ? std::nullopt : std::optional<std::string>(type));
  }
  const MemoryPlan plan = plan_memory(shape, weights, opt);
  const auto fits = fit_catalog(plan, catalog);
  if (json) std::printf("%s\n", json_text(memory_plan_json(plan, fits)).c_str());
  else std::fputs(memory_plan_text(plan, fits).c_str(), stdout);
  return 0;
}

}  // namespace bitdial::cli
