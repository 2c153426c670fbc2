// bitdial inspect FILE [--json]
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "formats/model_summary.h"

namespace bitdial::cli {

int run_inspect(int argc, char** argv) {
  CLI::App app{
      "Show a model's metadata, tensor table (name, type, shape, bytes, bits per weight) and totals.\n"
      "FILE is a GGUF file, a .safetensors file, or a Hugging Face folder (sharded checkpoints included).\n"
      "Shapes follow the file's own order: GGUF lists the row length first, safetensors the outermost dimension.\n"
      "Long metadata arrays (tokenizer vocabularies, merges) are summarised by type, length and first items.\n\n"
      "examples:\n"
      "  bitdial inspect model.gguf\n"
      "  bitdial inspect model.gguf --json | jq .totals\n"
      "  bitdial inspect ./Llama-3.2-1B/          # safetensors folder",
      "bitdial inspect"};
  std::string path;
  bool json = false;
  app.add_option("FILE", path, "GGUF file, .safetensors file, or model folder")->required();
  app.add_flag("--json", json, "print JSON: {path, format, details, file_bytes, metadata, tensors:[{name,type,shape,bytes,bits_per_weight}], totals}");
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  const ModelSummary s = summarize_model(path);
  if (json) {
    std::puts(json_text(summary_to_json(s)).c_str());
  } else {
    std::fputs(summary_to_text(s).c_str(), stdout);
  }
  return 0;
}

}  // namespace bitdial::cli
