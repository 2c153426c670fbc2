// The byte-level BPE trainer (train/bpe_trainer.h): the vocabulary size asked for, merges in
// frequency order with the documented tie-break and word boundaries, and GGUF metadata that bitdial's
// Tokenizer loads, round-trips any bytes with, and uses to compress the demo's training text.
#include "train/bpe_trainer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <random>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/tokenizer/tokenizer.h"
#include "train/triage_data.h"

namespace bitdial {
namespace {

// A Tokenizer built the way the engine builds one: from a parsed GGUF holding the metadata.
struct LoadedTokenizer {
  std::vector<uint8_t> bytes;  // the GGUF image; GgufFile::parse borrows it
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<Tokenizer> tokenizer;
};

std::unique_ptr<LoadedTokenizer> load_tokenizer(const SynthVocab& vocab) {
  auto t = std::make_unique<LoadedTokenizer>();
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  for (const GgufKeyValue& kv : vocab.keys) w.set(kv.key, kv.value);
  t->bytes = w.to_bytes();
  t->file = std::make_unique<GgufFile>(GgufFile::parse(t->bytes.data(), t->bytes.size(), "trained-bpe.gguf"));
  t->tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_gguf(*t->file));
  return t;
}

const std::string& triage_training_text() {
  static const std::string text = render_triage_text(generate_triage(TriageOptions{}).train);
  return text;
}

BpeVocab train(std::string_view text, int64_t vocab_size) {
  BpeTrainOptions o;
  o.vocab_size = vocab_size;
  return train_bpe(text, o);
}

TEST(BpeTrainer, VocabularyHasTheRequestedSize) {
  for (int64_t n : {300, 512, 1024}) {
    const BpeVocab v = train(triage_training_text(), n);
    EXPECT_EQ(static_cast<int64_t>(v.tokens.size()), n);
    EXPECT_GE(static_cast<int64_t>(v.merges.size()), n - kBpeMinVocab);
    const SynthVocab sv = bpe_synth_vocab(v);
    EXPECT_EQ(sv.size, n);
    EXPECT_EQ(static_cast<int64_t>(load_tokenizer(sv)->tokenizer->vocab_size()), n);
  }
}

TEST(BpeTrainer, FirstMergeIsTheMostFrequentPair) {
  // gpt-2 words: "ox", " ox" x2, " box". Pair counts: (o,x) 4, (' ',o) 2, (' ',b) 1, (b,o) 1.
  const BpeVocab v = train("ox ox ox box", kBpeMinVocab + 1);
  ASSERT_EQ(v.merges.size(), 1u);
  EXPECT_EQ(v.merges[0], "o x");
  EXPECT_EQ(v.tokens[256], "ox");
}

TEST(BpeTrainer, LaterMergesFollowTheUpdatedCountsAndTieBreak) {
  // After "o x": (' ',ox) 2, (' ',b) 1, (b,ox) 1 -> " ox"; then (' ',b) and (b,ox) tie at 1 and the
  // smaller left token (' ' < 'b') wins -> " b"; then (" b",ox) -> " box".
  const BpeVocab v = train("ox ox ox box", kBpeMinVocab + 4);
  EXPECT_EQ(v.merges, (std::vector<std::string>{"o x", "Ġ ox", "Ġ b", "Ġb ox"}));
  ASSERT_EQ(v.tokens.size(), 261u);
  EXPECT_EQ(v.tokens[256], "ox");
  EXPECT_EQ(v.tokens[257], "Ġox");
  EXPECT_EQ(v.tokens[258], "Ġb");
  EXPECT_EQ(v.tokens[259], "Ġbox");
  EXPECT_EQ(v.tokens[260], "<|endoftext|>");
  EXPECT_EQ(v.end_of_text, 260);
}

TEST(BpeTrainer, TokenizerAppliesTheLearnedMerges) {
  const auto t = load_tokenizer(bpe_synth_vocab(train("ox ox ox box", kBpeMinVocab + 4)));
  EXPECT_EQ(t->tokenizer->encode(" box ox", false), (std::vector<int32_t>{259, 257}));
  EXPECT_EQ(t->tokenizer->encode("ox", false), (std::vector<int32_t>{256}));
  EXPECT_EQ(t->tokenizer->encode("xo", false), (std::vector<int32_t>{'x', 'o'}));
}

TEST(BpeTrainer, MergesNeverCrossWordBoundaries) {
  // "a.a.a." splits into one-character words, so only " xy" has pairs: exactly two merges exist.
  const BpeVocab v = train("a.a.a. xy", kBpeMinVocab + 2);
  EXPECT_EQ(v.merges, (std::vector<std::string>{"Ġ x", "Ġx y"}));
  try {
    train("a.a.a. xy", kBpeMinVocab + 3);
    FAIL() << "expected an error: no pairs left";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no pairs left"), std::string::npos) << e.what();
  }
}

TEST(BpeTrainer, SameTextGivesTheSameVocabulary) {
  const BpeVocab a = train(triage_training_text(), 600);
  const BpeVocab b = train(triage_training_text(), 600);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.merges, b.merges);
}

TEST(BpeTrainer, MetadataIsAGpt2VocabularyWithEndOfTextAsBosAndEos) {
  const auto t = load_tokenizer(bpe_synth_vocab(train(triage_training_text(), 512)));
  const Tokenizer& tok = *t->tokenizer;
  EXPECT_EQ(tok.model_name(), "gpt2");
  EXPECT_EQ(tok.pre_name(), "gpt-2");
  EXPECT_EQ(tok.bos(), 511);
  EXPECT_EQ(tok.eos(), 511);
  EXPECT_TRUE(tok.is_control(511));
  EXPECT_TRUE(tok.is_eog(511));
  EXPECT_EQ(tok.token_text(511), "<|endoftext|>");
  EXPECT_EQ(tok.token_text(' '), "Ġ");
  const std::vector<int32_t> ids = tok.encode("Ticket: hi", true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 511);  // add_bos_token
}

TEST(BpeTrainer, TokenizerRoundTripsUtf8AndArbitraryBytes) {
  // NUL, bytes that never start UTF-8, a truncated sequence and an encoded surrogate.
  static constexpr char kMalformed[] = "\x00\x01\xff\xfe\x80 invalid \xc3 utf8 \xed\xa0\x80";
  const auto t = load_tokenizer(bpe_synth_vocab(train(triage_training_text(), 512)));
  const Tokenizer& tok = *t->tokenizer;
  std::vector<std::string> texts = {
      "",
      "Ticket: I was charged twice for my Pro subscription.\nIntent: billing\n\n",
      "Ünïcödé façade — naïve café, 日本語のテキスト, emoji 🎉👍🏽, Ελληνικά",
      "tabs\tand   spaces \r\n\n  trailing   ",
      "literal <|endoftext|> stays text",
      std::string(kMalformed, sizeof kMalformed - 1),
  };
  std::mt19937 rng(12345);
  for (int k = 0; k < 20; ++k) {
    std::string s(static_cast<size_t>(rng() % 200), '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xFF);
    texts.push_back(std::move(s));
  }
  for (const std::string& s : texts) {
    EXPECT_EQ(tok.decode(tok.encode(s, false)), s);
    EXPECT_EQ(tok.decode(tok.encode(s, true)), s);  // the BOS is a control token: decodes to nothing
  }
}

TEST(BpeTrainer, CompressesTheTrainingTextMoreWithALargerVocabulary) {
  const std::string& text = triage_training_text();
  size_t previous = text.size();
  for (int64_t n : {512, 1024}) {
    const auto t = load_tokenizer(bpe_synth_vocab(train(text, n)));
    const size_t tokens = t->tokenizer->encode(text, false).size();
    std::printf("vocab %lld: %zu bytes -> %zu tokens, %.2f bytes/token\n", static_cast<long long>(n), text.size(), tokens,
                static_cast<double>(text.size()) / static_cast<double>(tokens));
    EXPECT_LT(tokens, previous);
    previous = tokens;
  }
  EXPECT_LT(previous * 2, text.size());  // 1024 tokens hold at least 2 bytes each on average
}

TEST(BpeTrainer, InvalidOptionsAreRejected) {
  BpeTrainOptions o;
  o.vocab_size = 256;
  EXPECT_THROW(train_bpe("some text", o), Error);
  o.vocab_size = 300;
  o.pre = "no-such-pre-tokenizer";
  EXPECT_THROW(train_bpe("some text", o), Error);
}

}  // namespace
}  // namespace bitdial
