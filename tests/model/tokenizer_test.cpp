// Tokenizers against llama.cpp's reference vectors (ggml-vocab-*.gguf with .inp texts and .out ids):
// every text of every vocabulary must encode to exactly the reference ids, and decode back to itself.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/tokenizer/byte_unicode.h"
#include "model/tokenizer/pre_tokenizer.h"
#include "model/tokenizer/tokenizer.h"
#include "model/tokenizer/utf8.h"
#include "test_support.h"

namespace bitdial {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The .inp file is text, "\n__ggml_vocab_test__\n", text, ... with the separator after every text
// (including the last), so splitting on the separator leaves one empty tail.
std::vector<std::string> read_texts(const std::string& path) {
  const std::string all = read_all(path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t start = 0;
  for (size_t pos; (pos = all.find(sep, start)) != std::string::npos; start = pos + sep.size()) {
    texts.push_back(all.substr(start, pos - start));
  }
  EXPECT_EQ(start, all.size()) << path << ": text after the last separator";
  return texts;
}

// One line of space-separated ids per text (an empty line for an empty encoding).
std::vector<std::vector<int32_t>> read_ids(const std::string& path) {
  std::istringstream in(read_all(path));
  std::vector<std::vector<int32_t>> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    for (int32_t id; ls >> id;) ids.push_back(id);
    out.push_back(std::move(ids));
  }
  return out;
}

std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

class VocabVectors : public ::testing::TestWithParam<const char*> {};

TEST_P(VocabVectors, EncodesEveryReferenceTextExactlyAndDecodesItBack) {
  BITDIAL_REQUIRE_SHARED();
  const std::string base = test::shared_path(std::string("tokenizer-vectors/ggml-vocab-") + GetParam() + ".gguf");
  const GgufFile f = GgufFile::open(base);
  const Tokenizer tok = Tokenizer::from_gguf(f);
  const std::vector<std::string> texts = read_texts(base + ".inp");
  const std::vector<std::vector<int32_t>> expected = read_ids(base + ".out");
  ASSERT_EQ(texts.size(), expected.size()) << base;
  ASSERT_GT(texts.size(), 40u);

  std::string encode_failures, decode_failures;
  size_t encode_ok = 0, decode_ok = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int32_t> got = tok.encode(texts[i], /*add_bos=*/false);
    if (got == expected[i]) {
      ++encode_ok;
    } else {
      encode_failures += "\n  text " + std::to_string(i) + " \"" + texts[i].substr(0, 60) + "\"\n    expected: " +
                         ids_str(expected[i]) + "\n    got:      " + ids_str(got);
    }
    const std::string back = tok.decode(got);
    if (back == texts[i]) ++decode_ok;
    else decode_failures += "\n  text " + std::to_string(i) + " \"" + texts[i].substr(0, 60) + "\" -> \"" + back.substr(0, 60) + "\"";
  }
  EXPECT_EQ(encode_ok, texts.size()) << GetParam() << ": " << encode_ok << "/" << texts.size() << " texts encode exactly" << encode_failures;
  EXPECT_EQ(decode_ok, texts.size()) << GetParam() << ": " << decode_ok << "/" << texts.size() << " texts round-trip" << decode_failures;
}

INSTANTIATE_TEST_SUITE_P(ReferenceVocabs, VocabVectors,
                         ::testing::Values("deepseek-coder", "deepseek-llm", "gpt-2", "llama-spm", "mpt", "phi-3", "starcoder"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           std::string n = p.param;
                           for (char& c : n) if (c == '-') c = '_';
                           return n;
                         });

TEST(Tokenizer, Stories260kEncodesWithBosAndRoundTrips) {
  BITDIAL_REQUIRE_SHARED();
  const GgufFile f = GgufFile::open(test::shared_path("models/stories260K.gguf"));
  const Tokenizer tok = Tokenizer::from_gguf(f);
  EXPECT_EQ(tok.vocab_size(), 512u);
  EXPECT_EQ(tok.bos(), 1);
  EXPECT_EQ(tok.eos(), 2);
  EXPECT_TRUE(tok.is_eog(2));
  EXPECT_FALSE(tok.is_eog(1));
  const std::vector<int32_t> ids = tok.encode("Once upon a time", true);
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(tok.encode("Once upon a time", false), std::vector<int32_t>(ids.begin() + 1, ids.end()));
  EXPECT_EQ(tok.decode(ids), "Once upon a time");
  std::string pieces;
  for (size_t i = 1; i < ids.size(); ++i) pieces += tok.piece(ids[i]);
  EXPECT_EQ(pieces, " Once upon a time");  // the SentencePiece space prefix shows in raw pieces
  EXPECT_EQ(tok.piece(1), "");  // control tokens contribute nothing
  EXPECT_THROW(tok.piece(512), Error);
}

TEST(Tokenizer, SpmFallsBackToByteTokensForUnknownCharacters) {
  BITDIAL_REQUIRE_SHARED();
  const GgufFile f = GgufFile::open(test::shared_path("models/stories260K.gguf"));
  const Tokenizer tok = Tokenizer::from_gguf(f);
  const std::string text = "a\xF0\x9F\xA6\x99";  // 'a' + U+1F999, surely not in a 512-token vocabulary
  const std::vector<int32_t> ids = tok.encode(text, false);
  ASSERT_GE(ids.size(), 4u);
  for (size_t i = ids.size() - 4; i < ids.size(); ++i) EXPECT_EQ(tok.piece(ids[i]).size(), 1u);
  EXPECT_EQ(tok.decode(ids), text);
}

TEST(Tokenizer, BosOnlyWhenTheVocabularyWantsIt) {
  BITDIAL_REQUIRE_SHARED();
  const Tokenizer gpt2 = Tokenizer::from_gguf(GgufFile::open(test::shared_path("tokenizer-vectors/ggml-vocab-gpt-2.gguf")));
  EXPECT_EQ(gpt2.encode("Hello", true), gpt2.encode("Hello", false));  // no add_bos_token key: off for gpt2
  const Tokenizer dsc = Tokenizer::from_gguf(GgufFile::open(test::shared_path("tokenizer-vectors/ggml-vocab-deepseek-coder.gguf")));
  EXPECT_EQ(dsc.encode("Hello", true).front(), dsc.bos());
  EXPECT_EQ(dsc.decode(dsc.encode("Hello", true)), "Hello");
}

TEST(Tokenizer, ControlTokensInTextAreParsedOnlyOnRequest) {
  BITDIAL_REQUIRE_SHARED();
  const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(test::shared_path("tokenizer-vectors/ggml-vocab-gpt-2.gguf")));
  const std::vector<int32_t> plain = tok.encode("a<|endoftext|>b", false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 50256), 0);
  EXPECT_EQ(tok.decode(plain), "a<|endoftext|>b");
  const std::vector<int32_t> parsed = tok.encode("a<|endoftext|>b", false, true);
  EXPECT_EQ(parsed, (std::vector<int32_t>{64, 50256, 65}));
  EXPECT_TRUE(tok.is_eog(50256));
  EXPECT_EQ(tok.decode(parsed), "ab");
}

TEST(Tokenizer, BpeKeepsMalformedUtf8AsBytes) {
  BITDIAL_REQUIRE_SHARED();
  const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(test::shared_path("tokenizer-vectors/ggml-vocab-gpt-2.gguf")));
  const std::string text = "ok \xC3 x\xFF";
  EXPECT_EQ(tok.decode(tok.encode(text, false)), text);
}

TEST(Tokenizer, NonVocabularyFileIsAnErrorNamingTheKey) {
  BITDIAL_REQUIRE_SHARED();
  // A model file without tokenizer metadata would do; build one in memory.
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  const std::vector<uint8_t> bytes = w.to_bytes();
  const GgufFile f = GgufFile::parse(bytes.data(), bytes.size(), "mem.gguf");
  try {
    Tokenizer::from_gguf(f);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mem.gguf"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.model"), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, UnknownPreTokenizerIsAnError) {
  GgufWriter w;
  w.set("tokenizer.ggml.model", GgufValue::string("gpt2"));
  w.set("tokenizer.ggml.pre", GgufValue::string("no-such-pre"));
  w.set("tokenizer.ggml.tokens", GgufValue::string_array({"a", "b", "ab"}));
  w.set("tokenizer.ggml.merges", GgufValue::string_array({"a b"}));
  const std::vector<uint8_t> bytes = w.to_bytes();
  const GgufFile f = GgufFile::parse(bytes.data(), bytes.size(), "pre.gguf");
  EXPECT_THROW(Tokenizer::from_gguf(f), Error);
}

TEST(PreTokenizer, EveryNamedFamilyCompilesAndSplitsLosslessly) {
  const std::string text = "Hello, y'all! 1234567 \xE6\x88\x91\xE6\x83\xB3 \t\n\n  ok";
  for (const std::string& name : supported_pre_tokenizers()) {
    const PreTokenizer p = PreTokenizer::for_name(name, "test");
    std::string joined;
    for (std::string_view piece : p.split(text)) {
      EXPECT_FALSE(piece.empty()) << name;
      joined += piece;
    }
    EXPECT_EQ(joined, text) << name;
  }
}

TEST(PreTokenizer, Gpt2SplitsWordsNumbersAndTrailingSpace) {
  const PreTokenizer p = PreTokenizer::for_name("gpt-2", "test");
  const std::vector<std::string_view> got = p.split("Hello world's  42!!\n");
  const std::vector<std::string_view> want = {"Hello", " world", "'s", " ", " 42", "!!", "\n"};
  EXPECT_EQ(got, want);
}

TEST(ByteUnicode, MappingIsTheGpt2AlphabetAndInvertible) {
  EXPECT_EQ(byte_to_unicode(' '), "\xC4\xA0");  // U+0120 'Ġ'
  EXPECT_EQ(byte_to_unicode('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(byte_to_unicode('A'), "A");
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  EXPECT_EQ(unicode_to_bytes(bytes_to_unicode(all)), all);
}

TEST(Utf8, FindsTheFirstMalformedByte) {
  EXPECT_FALSE(utf8_find_invalid("abc \xC3\xA9").has_value());
  EXPECT_EQ(utf8_find_invalid("ab\xC3"), std::optional<size_t>(2));
  EXPECT_EQ(utf8_find_invalid("a\xED\xA0\x80"), std::optional<size_t>(1));  // surrogate
  EXPECT_EQ(utf8_find_invalid("\xC0\x80"), std::optional<size_t>(0));       // overlong
}

}  // namespace
}  // namespace bitdial
