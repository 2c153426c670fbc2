// bitdial tokenize -m MODEL (TEXT | --file F) [--ids] [--no-bos] [--parse-special]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "model/tokenizer/tokenizer.h"
#include "model/tokenizer/utf8.h"

namespace bitdial::cli {

namespace {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(path, ": read error");
  return ss.str();
}

// Quotes a piece for one line of output: printable ASCII and well-formed UTF-8 as is; quote,
// backslash and control characters escaped; bytes of incomplete sequences as \xNN.
std::string escape_piece(const std::string& s) {
  std::string out;
  for (size_t pos = 0; pos < s.size();) {
    const auto c = static_cast<unsigned char>(s[pos]);
    const size_t n = utf8_valid_len(s, pos);
    if (c >= 0x80 && n > 1) {
      out.append(s, pos, n);
      pos += n;
      continue;
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\\': out += "\\\\"; break;
      case '\'': out += "\\'"; break;
      default:
        if (c < 0x20 || c >= 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02X", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++pos;
  }
  return out;
}

}  // namespace

int run_tokenize(int argc, char** argv) {
  CLI::App app{
      "Turn text into token ids with a model's own tokenizer (read from its GGUF metadata).\n"
      "Prints one token per line as ID<TAB>'PIECE' (the text the token contributes, control tokens shown by\n"
      "name, non-printable bytes escaped), or just the ids on one line with --ids. BOS is added when the\n"
      "vocabulary asks for it (tokenizer.ggml.add_bos_token) unless --no-bos is given.\n\n"
      "examples:\n"
      "  bitdial tokenize -m model.gguf \"Once upon a time\"\n"
      "  bitdial tokenize -m model.gguf --file prompt.txt --ids\n"
      "  bitdial tokenize -m model.gguf --no-bos --parse-special \"<|user|>hi<|end|>\"",
      "bitdial tokenize"};
  std::string model;
  std::string text;
  std::string file;
  bool ids_only = false;
  bool no_bos = false;
  bool parse_special = false;
  app.add_option("-m,--model", model, "GGUF model or vocabulary file")->required();
  auto* text_opt = app.add_option("TEXT", text, "text to tokenize (UTF-8)");
  auto* file_opt = app.add_option("--file", file, "read the text from this file instead (UTF-8, used byte for byte)");
  text_opt->excludes(file_opt);
  file_opt->excludes(text_opt);
  app.add_flag("--ids", ids_only, "print only the ids, space-separated on one line");
  app.add_flag("--no-bos", no_bos, "never prepend the BOS token");
  app.add_flag("--parse-special", parse_special, "turn control tokens written in the text (e.g. <|endoftext|>) into their ids");
  CLI11_PARSE_OR_RETURN(app, argc, argv);
  if (text_opt->count() == 0 && file_opt->count() == 0) {
    std::fprintf(stderr, "bitdial tokenize: give TEXT or --file F (see --help)\n");
    return 1;
  }

  std::string where = "TEXT";
  if (file_opt->count() > 0) {
    text = read_text_file(file);
    where = file;
  }
  if (const std::optional<size_t> bad = utf8_find_invalid(text)) {
    fail(where, ": invalid UTF-8 at byte ", *bad);
  }

  const GgufFile f = GgufFile::open(model);
  const Tokenizer tok = Tokenizer::from_gguf(f);
  const std::vector<int32_t> ids = tok.encode(text, !no_bos, parse_special);

  if (ids_only) {
    std::string line;
    for (int32_t id : ids) line += (line.empty() ? "" : " ") + std::to_string(id);
    std::puts(line.c_str());
    return 0;
  }
  for (int32_t id : ids) {
    const std::string shown = tok.is_control(id) ? tok.token_text(id) : tok.piece(id);
    std::printf("%d\t'%s'\n", id, escape_piece(shown).c_str());
  }
  return 0;
}

}  // namespace bitdial::cli
