// The trainer's data path (train/token_stream.h): documents from text and task files, their framing
// with BOS / EOS, the SplitMix64 generator against its published outputs, and the window sampler's
// epochs, determinism and exact continuation from a saved state.
#include "train/token_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "eval/task_file.h"
#include "test_support.h"
#include "train/bpe_trainer.h"

namespace bitdial {
namespace {

using test::error_of;

TEST(SplitDocuments, BlankLinesSeparateParagraphs) {
  const std::string text = "a\nb\n\n \t\n c\r\n\r\nd\n";
  EXPECT_EQ(split_documents(text, TrainSplit::blank_lines), (std::vector<std::string>{"a\nb", " c\r", "d"}));
  EXPECT_EQ(split_documents(text, TrainSplit::file), std::vector<std::string>{text});
  EXPECT_TRUE(split_documents("\n\n  \n", TrainSplit::blank_lines).empty());
  EXPECT_TRUE(split_documents("", TrainSplit::file).empty());
}

TEST(TaskDocuments, PromptPlusChoicePrefixPlusLabelOrTarget) {
  const TaskFile f = parse_task_text(
      "{\"task\": {\"template\": \"Ticket: {input}\\nIntent:\", \"choice_prefix\": \" \"}}\n"
      "{\"id\": \"a\", \"input\": \"charged twice\", \"choices\": [\"refund\", \"billing\"], \"label\": \"billing\"}\n"
      "{\"id\": \"b\", \"input\": \"2+2\", \"target\": \"4\"}\n",
      "t.jsonl");
  EXPECT_EQ(task_documents(f),
            (std::vector<std::string>{"Ticket: charged twice\nIntent: billing", "Ticket: 2+2\nIntent:4"}));
}

TEST(AppendDocument, ByteVocabularyFramesEachDocumentWithBosAndEos) {
  const Tokenizer tok = tokenizer_from_vocab(synth_byte_vocab(kSynthByteVocabMin));
  std::vector<int32_t> ids;
  append_document(tok, "Hi!", ids);
  append_document(tok, "ok", ids);
  // <s> U+2581 H i ! </s> <s> U+2581 o k </s>
  ASSERT_EQ(ids.size(), 11u);
  EXPECT_EQ(ids[0], tok.bos());
  EXPECT_EQ(ids[5], tok.eos());
  EXPECT_EQ(ids[6], tok.bos());
  EXPECT_EQ(ids[10], tok.eos());
  EXPECT_EQ(tok.decode({ids.begin(), ids.begin() + 6}), "Hi!");
}

TEST(AppendDocument, GptVocabularyUsesOneEndOfTextBetweenDocuments) {
  BpeTrainOptions o;
  o.vocab_size = kBpeMinVocab + 2;
  const Tokenizer tok = tokenizer_from_vocab(bpe_synth_vocab(train_bpe("ab ab ab", o)));
  ASSERT_EQ(tok.bos(), tok.eos());
  std::vector<int32_t> ids;
  append_document(tok, "ab", ids);
  append_document(tok, "ab", ids);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tok.bos()), 2);  // one before each document, none after
  EXPECT_EQ(ids.front(), tok.bos());
  EXPECT_NE(ids.back(), tok.eos());
}

TEST(SplitMix64, MatchesTheReferenceOutputsForSeedZero) {
  // Outputs of the reference implementation (Vigna's splitmix64.c) with x = 0.
  SplitMix64 r;
  EXPECT_EQ(r.next(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(r.next(), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(r.next(), 0x06c45d188009454fULL);
}

TEST(SplitMix64, BelowStaysInRangeAndHitsEveryValue) {
  SplitMix64 r{42};
  std::vector<int> hits(7, 0);
  for (int i = 0; i < 7000; ++i) {
    const uint64_t v = r.below(7);
    ASSERT_LT(v, 7u);
    ++hits[v];
  }
  // Each of 7 values expects 1000 hits; sigma ~ 29, so 850..1150 fails a fair generator ~never.
  for (int h : hits) EXPECT_TRUE(h > 850 && h < 1150) << h;
}

TEST(WindowSampler, EachEpochDealsEveryWindowOnceAtOneOffset) {
  const int64_t n = 1000, len = 64;  // 15 windows of 64 (+1) and 39 tokens of slack
  WindowSampler s(n, len, 5);
  ASSERT_EQ(s.windows_per_epoch(), 15);
  std::set<int64_t> offsets;
  for (int epoch = 0; epoch < 6; ++epoch) {
    std::set<int64_t> starts;
    for (int i = 0; i < 15; ++i) {
      const int64_t st = s.next();
      ASSERT_GE(st, 0);
      ASSERT_LE(st + len + 1, n);
      starts.insert(st);
    }
    EXPECT_EQ(starts.size(), 15u);  // no window twice
    const int64_t offset = *starts.begin();
    EXPECT_LE(offset, 39);  // the slack
    for (int64_t st : starts) EXPECT_EQ((st - offset) % len, 0);
    offsets.insert(offset);
  }
  EXPECT_GT(offsets.size(), 1u) << "the offset should change between epochs";
}

std::vector<int64_t> draw(WindowSampler& s, int k) {
  std::vector<int64_t> v;
  for (int i = 0; i < k; ++i) v.push_back(s.next());
  return v;
}

TEST(WindowSampler, SameSeedSameOrderOtherSeedOtherOrder) {
  WindowSampler a(5000, 32, 1), b(5000, 32, 1), c(5000, 32, 2);
  const auto da = draw(a, 300), db = draw(b, 300), dc = draw(c, 300);
  EXPECT_EQ(da, db);
  EXPECT_NE(da, dc);
}

TEST(WindowSampler, RestoredStateContinuesExactly) {
  for (int split : {0, 7, 15, 16, 40, 45}) {  // start, mid-epoch, epoch ends (15 windows), later epochs
    WindowSampler straight(1000, 64, 9);
    const auto all = draw(straight, 60);
    WindowSampler first(1000, 64, 9);
    draw(first, split);
    WindowSampler resumed(1000, 64, 12345);  // another seed: restore must replace everything
    resumed.restore(first.rng_words(), first.cursor());
    const auto rest = draw(resumed, 60 - split);
    EXPECT_TRUE(std::equal(rest.begin(), rest.end(), all.begin() + split)) << "split " << split;
  }
}

TEST(WindowSampler, RejectsShortStreamsAndBadStates) {
  EXPECT_NE(error_of([] { WindowSampler(64, 64, 1); }).find("64 tokens; one sequence of 64 needs 65"), std::string::npos);
  WindowSampler s(1000, 64, 1);
  EXPECT_NE(error_of([&] { s.restore({1}, 0); }).find("1 words, expected 2"), std::string::npos);
  EXPECT_NE(error_of([&] { s.restore({1, 0}, 16); }).find("past the end of an epoch of 15"), std::string::npos);
}

TEST(MakeWindowBatch, TargetsAreTheNextTokens) {
  const std::vector<int32_t> ids = {10, 11, 12, 13, 14, 15, 16};
  const TrainBatch b = make_window_batch(ids, 3, {0, 3});
  EXPECT_EQ(b.n_seq, 2);
  EXPECT_EQ(b.seq_len, 3);
  EXPECT_EQ(b.tokens, (std::vector<int32_t>{10, 11, 12, 13, 14, 15}));
  EXPECT_EQ(b.targets, (std::vector<int32_t>{11, 12, 13, 14, 15, 16}));
}

TEST(HeldoutBatches, ConsecutiveWindowsCappedByTokens) {
  std::vector<int32_t> ids(101);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  auto b = heldout_batches(ids, 10, 4, 1000);  // 10 windows, batches of 4, 4, 2
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].n_seq, 4);
  EXPECT_EQ(b[2].n_seq, 2);
  EXPECT_EQ(b[2].tokens.back(), 99);
  EXPECT_EQ(b[2].targets.back(), 100);
  b = heldout_batches(ids, 10, 4, 35);  // 3 windows
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].n_seq, 3);
  b = heldout_batches({1, 2, 3}, 10, 4, 1000);  // shorter than one window: one window of 2
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].seq_len, 2);
  EXPECT_NE(error_of([] { heldout_batches({1}, 10, 4, 1000); }).find("1 tokens; it needs at least 2"), std::string::npos);
}

}  // namespace
}  // namespace bitdial
