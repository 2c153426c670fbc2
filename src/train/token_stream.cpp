#include "train/token_stream.h"

#include <algorithm>

#include "core/error.h"
#include "eval/task_file.h"
#include "formats/gguf.h"

namespace bitdial {

Tokenizer tokenizer_from_vocab(const SynthVocab& vocab) {
  // The Tokenizer copies everything it needs out of the file, so the image can go once it is built.
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  for (const GgufKeyValue& kv : vocab.keys) w.set(kv.key, kv.value);
  const std::vector<uint8_t> bytes = w.to_bytes();
  const GgufFile file = GgufFile::parse(bytes.data(), bytes.size(), vocab.source.empty() ? "vocabulary" : vocab.source);
  return Tokenizer::from_gguf(file);
}

namespace {

bool blank_line(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; });
}

}  // namespace

std::vector<std::string> split_documents(std::string_view text, TrainSplit split) {
  std::vector<std::string> docs;
  if (split == TrainSplit::file) {
    if (!text.empty()) docs.emplace_back(text);
    return docs;
  }
  std::string doc;
  bool open = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t nl = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, nl - pos);
    if (blank_line(line)) {
      if (open) docs.push_back(std::move(doc));
      doc.clear();
      open = false;
    } else {
      if (open) doc += '\n';
      doc.append(line);
      open = true;
    }
    pos = nl + 1;
  }
  if (open) docs.push_back(std::move(doc));
  return docs;
}

std::vector<std::string> task_documents(const TaskFile& tasks) {
  std::vector<std::string> docs;
  docs.reserve(tasks.examples.size());
  for (const TaskExample& e : tasks.examples) {
    if (e.kind == TaskKind::classification)
      docs.push_back(e.prompt + tasks.header.choice_prefix + e.choices[static_cast<size_t>(e.label)]);
    else
      docs.push_back(e.prompt + e.target);
  }
  return docs;
}

void append_document(const Tokenizer& tokenizer, std::string_view doc, std::vector<int32_t>& ids) {
  const std::vector<int32_t> t = tokenizer.encode(doc, true);
  ids.insert(ids.end(), t.begin(), t.end());
  if (tokenizer.eos() >= 0 && tokenizer.eos() != tokenizer.bos()) ids.push_back(tokenizer.eos());
}

uint64_t SplitMix64::next() {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::below(uint64_t n) {
  BITDIAL_ASSERT(n > 0);
  // Accept only draws below the largest multiple of n, so every residue is equally likely.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x = next();
  while (x >= limit) x = next();
  return x % n;
}

WindowSampler::WindowSampler(int64_t n_tokens, int64_t seq_len, uint64_t seed) : n_tokens_(n_tokens), seq_len_(seq_len) {
  BITDIAL_ASSERT(seq_len > 0);
  if (n_tokens < seq_len + 1)
    fail("the training data has ", n_tokens, " tokens; one sequence of ", seq_len, " needs ", seq_len + 1);
  rng_.state = seed;
  start_epoch();
}

void WindowSampler::start_epoch() {
  epoch_rng_ = rng_.state;
  const int64_t windows = (n_tokens_ - 1) / seq_len_;
  const int64_t slack = (n_tokens_ - 1) - windows * seq_len_;
  offset_ = static_cast<int64_t>(rng_.below(static_cast<uint64_t>(slack) + 1));
  order_.resize(static_cast<size_t>(windows));
  for (int64_t i = 0; i < windows; ++i) order_[static_cast<size_t>(i)] = i;
  // Fisher-Yates from the back (Knuth, TAOCP vol. 2, 3.4.2, algorithm P).
  for (int64_t i = windows - 1; i > 0; --i)
    std::swap(order_[static_cast<size_t>(i)], order_[rng_.below(static_cast<uint64_t>(i) + 1)]);
  cursor_ = 0;
}

int64_t WindowSampler::next() {
  if (cursor_ == order_.size()) {
    ++epoch_;
    start_epoch();
  }
  return offset_ + order_[cursor_++] * seq_len_;
}

void WindowSampler::restore(const std::vector<uint64_t>& rng_words, uint64_t cursor) {
  if (rng_words.size() != 2) fail("data sampler state has ", rng_words.size(), " words, expected 2");
  rng_.state = rng_words[0];
  start_epoch();
  epoch_ = rng_words[1];
  if (cursor > order_.size())
    fail("data cursor ", cursor, " is past the end of an epoch of ", order_.size(), " windows");
  cursor_ = cursor;
}

TrainBatch make_window_batch(const std::vector<int32_t>& ids, int64_t seq_len, const std::vector<int64_t>& starts) {
  TrainBatch b;
  b.n_seq = static_cast<int64_t>(starts.size());
  b.seq_len = seq_len;
  b.tokens.reserve(starts.size() * static_cast<size_t>(seq_len));
  b.targets.reserve(b.tokens.capacity());
  for (int64_t s : starts) {
    BITDIAL_ASSERT(s >= 0 && s + seq_len + 1 <= static_cast<int64_t>(ids.size()));
    const auto first = ids.begin() + s;
    b.tokens.insert(b.tokens.end(), first, first + seq_len);
    b.targets.insert(b.targets.end(), first + 1, first + seq_len + 1);
  }
  return b;
}

std::vector<TrainBatch> heldout_batches(const std::vector<int32_t>& ids, int64_t seq_len, int64_t n_seq,
                                        int64_t max_tokens) {
  BITDIAL_ASSERT(seq_len > 0 && n_seq > 0);
  const int64_t n = static_cast<int64_t>(ids.size());
  if (n < 2) fail("the held-out data has ", n, " tokens; it needs at least 2");
  const int64_t len = std::min(seq_len, n - 1);
  const int64_t windows = std::max<int64_t>(1, std::min((n - 1) / len, max_tokens / len));
  std::vector<TrainBatch> batches;
  for (int64_t w = 0; w < windows; w += n_seq) {
    std::vector<int64_t> starts;
    for (int64_t i = w; i < std::min(windows, w + n_seq); ++i) starts.push_back(i * len);
    batches.push_back(make_window_batch(ids, len, starts));
  }
  return batches;
}

}  // namespace bitdial
