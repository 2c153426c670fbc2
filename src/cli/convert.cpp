// bitdial convert IN OUT [--type f32|f16|bf16]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/progress.h"
#include "model/convert.h"

namespace bitdial::cli {

namespace {
const char* format_name(ModelFormat f) {
  switch (f) {
    case ModelFormat::gguf: return "GGUF";
    case ModelFormat::safetensors_file: return "safetensors file";
    case ModelFormat::hf_folder: return "Hugging Face folder";
  }
  return "?";
}
}  // namespace

int run_convert(int argc, char** argv) {
  CLI::App app{
      "Convert between GGUF and safetensors.\n"
      "  GGUF -> OUT.safetensors  any GGUF, tensor by tensor (quantized tensors are dequantized)\n"
      "  GGUF -> OUT/             llama family: Hugging Face names (q/k rows un-permuted), config.json,\n"
      "                           generation_config.json, tokenizer.json, tokenizer_config.json\n"
      "  safetensors file/folder -> OUT.gguf   llama/mistral/qwen2 with config.json: full GGUF metadata\n"
      "                           and tokenizer; otherwise a raw tensor copy\n"
      "Without --type, f32/f16/bf16 tensors keep their type and quantized ones become f32.\n"
      "Outputs are written to a temporary name and renamed when complete.\n\n"
      "examples:\n"
      "  bitdial convert model.gguf hf-model/                 # Hugging Face folder\n"
      "  bitdial convert ./Llama-3.2-1B/ llama-1b-f16.gguf --type f16\n"
      "  bitdial convert model-q4_k.gguf weights.safetensors --type f32",
      "bitdial convert"};
  std::string in, out, type;
  app.add_option("IN", in, "GGUF file, .safetensors file, index.json, or model folder")->required();
  app.add_option("OUT", out, "ends in .gguf: GGUF; in .safetensors: one file; else a folder")->required();
  app.add_option("--type", type, "tensor type of the output: f32, f16 or bf16");
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  ConvertOptions options;
  if (!type.empty()) options.out_type = parse_convert_type(type);
  std::unique_ptr<Progress> progress;
  options.progress = [&](size_t done, size_t total) {
    if (!progress) progress = std::make_unique<Progress>("convert", total);
    progress->update(done);
  };
  const ConvertResult r = convert_model(in, out, options);
  if (progress) progress->finish();
  std::printf("converted %zu tensors: %s -> %s\n", r.tensors, format_name(r.in_format), format_name(r.out_format));
  for (const std::string& f : r.files) std::printf("  wrote %s\n", f.c_str());
  return 0;
}

}  // namespace bitdial::cli
