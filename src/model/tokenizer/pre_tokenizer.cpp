#include "model/tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <map>

#include "core/error.h"

namespace bitdial {

namespace {

// The expressions are data: the published pre-tokenizer patterns of each model family (as converted
// for llama.cpp, with case-insensitive groups spelled out), applied in order.
const std::string kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
const std::string kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S))";
const std::string kCjk = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";

struct Family {
  std::vector<std::string> regexes;
  bool whole_word_first = false;
};

const std::map<std::string, Family>& families() {
  static const std::map<std::string, Family> table = [] {
    const Family def{{R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}};
    const Family gpt2{{kGpt2}};
    const Family llama3{{kLlama3}, true};
    const Family deepseek_llm{{
        "[\r\n]",
        "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
        "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481"
        "\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b"
        "\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b"
        "\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb"
        "\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128"
        "\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4"
        "\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf"
        "\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3"
        "\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+",
        "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
        "\\s+$",
        kCjk,
        "\\p{N}+",
    }};
    const Family deepseek_coder{{"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjk, "\\p{N}"}};
    const Family falcon{{R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}};
    const Family starcoder{{R"(\p{N})", kGpt2}};
    const Family qwen2{{kQwen2}};
    std::map<std::string, Family> t;
    t["default"] = def;
    for (const char* n : {"gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "roberta-bpe", "mpt", "olmo", "jais"}) t[n] = gpt2;
    for (const char* n : {"llama3", "llama-v3", "llama-bpe", "dbrx", "smaug-bpe"}) t[n] = llama3;
    t["deepseek-llm"] = deepseek_llm;
    t["deepseek-coder"] = deepseek_coder;
    t["falcon"] = falcon;
    for (const char* n : {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone"}) t[n] = starcoder;
    for (const char* n : {"qwen2", "stablelm2"}) t[n] = qwen2;
    return t;
  }();
  return table;
}

}  // namespace

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  std::string pattern;
  ~Compiled() { pcre2_code_free(code); }
};

std::vector<std::string> supported_pre_tokenizers() {
  std::vector<std::string> names;
  for (const auto& [name, family] : families()) names.push_back(name);
  return names;
}

PreTokenizer PreTokenizer::for_name(const std::string& pre, const std::string& where) {
  const auto it = families().find(pre);
  if (it == families().end()) {
    std::string list;
    for (const std::string& n : supported_pre_tokenizers()) list += (list.empty() ? "" : ", ") + n;
    fail(where, ": tokenizer.ggml.pre: unsupported pre-tokenizer \"", pre, "\" (supported: ", list, ")");
  }
  PreTokenizer p = from_regexes(it->second.regexes, where);
  p.whole_word_first_ = it->second.whole_word_first;
  return p;
}

PreTokenizer PreTokenizer::from_regexes(const std::vector<std::string>& regexes, const std::string& where) {
  PreTokenizer p;
  for (const std::string& re : regexes) {
    auto c = std::make_shared<Compiled>();
    c->pattern = re;
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    // DOLLAR_ENDONLY: '$' means the end of the piece only, not also "before a final newline".
    c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(),
                            PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err, &err_offset, nullptr);
    if (c->code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail(where, ": pre-tokenizer regex /", re, "/ does not compile at offset ", err_offset, ": ",
           reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);  // optional speed-up; the interpreter is the fallback
    p.regexes_.push_back(std::move(c));
  }
  return p;
}

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (text.empty()) return pieces;
  pieces.push_back(text);
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(nullptr, &pcre2_match_data_free);
  for (const auto& re : regexes_) {
    md.reset(pcre2_match_data_create_from_pattern(re->code, nullptr));
    if (!md) fail("pre-tokenizer: out of memory creating match data");
    std::vector<std::string_view> next;
    next.reserve(pieces.size() * 2);
    for (std::string_view piece : pieces) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t pos = 0;   // where the next search starts
      size_t done = 0;  // end of what has been emitted
      while (pos <= piece.size()) {
        const int rc = pcre2_match(re->code, subject, piece.size(), pos, PCRE2_NO_UTF_CHECK, md.get(), nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          PCRE2_UCHAR msg[256];
          pcre2_get_error_message(rc, msg, sizeof msg);
          fail("pre-tokenizer regex /", re->pattern, "/: match failed: ", reinterpret_cast<const char*>(msg));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
        const size_t begin = ov[0];
        const size_t end = ov[1];
        if (end == begin) {
          // An empty match adds nothing; step over one character (UTF-8 lead byte to lead byte).
          pos = begin + 1;
          while (pos < piece.size() && (static_cast<uint8_t>(piece[pos]) & 0xC0) == 0x80) ++pos;
          continue;
        }
        if (begin > done) next.push_back(piece.substr(done, begin - done));
        next.push_back(piece.substr(begin, end - begin));
        done = pos = end;
      }
      if (done < piece.size()) next.push_back(piece.substr(done));
    }
    pieces = std::move(next);
  }
  return pieces;
}

}  // namespace bitdial
