// load_train_config and prepare_training on small configs written into a temporary folder: defaults
// and path resolution, then one test per rejected input, each checking that the message names the
// file:line and the key, and the checks of the config against the data and the tokenizer.
#include "train/train_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_support.h"
#include "train/token_stream.h"
#include "train/train_setup.h"

namespace bitdial {
namespace {

using test::contains;

namespace fs = std::filesystem;
using test::error_of;
using test::TempDir;

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }


// A folder with a small training text, and train.yaml = the given text.
struct ConfigDir {
  TempDir dir;
  ConfigDir() {
    std::string text;
    for (int i = 0; i < 40; ++i) text += "Ticket: my card was charged twice\nIntent: billing\n\n";
    write(dir.file("train.txt"), text);
    write(dir.file("heldout.txt"), "Ticket: refund please\nIntent: refund\n");
  }
  std::string config(const std::string& yaml) const {
    const std::string path = dir.file("train.yaml");
    write(path, yaml);
    return path;
  }
};

const std::string kModel = "model:\n  n_embd: 16\n  n_layer: 1\n  n_head: 2\n  n_ff: 32\n  n_ctx: 64\n";
const std::string kData = "data:\n  text: train.txt\n  heldout: heldout.txt\n";
const std::string kOutput = "output:\n  model: out.gguf\n";

TEST(TrainConfig, DefaultsAndAbsolutePaths) {
  ConfigDir d;
  const TrainConfig c = load_train_config(d.config(kModel + kData + kOutput));
  const fs::path folder = fs::absolute(d.dir.path()).lexically_normal();
  EXPECT_EQ(c.spec.n_embd, 16);
  EXPECT_EQ(c.spec.n_head_kv, 2);  // defaults to n_head
  EXPECT_EQ(c.spec.name, "train");  // the config's stem
  EXPECT_EQ(c.tokenizer, TrainTokenizerKind::byte);
  EXPECT_FALSE(c.tokenizer_given);
  ASSERT_EQ(c.text.size(), 1u);
  EXPECT_EQ(c.text[0], (folder / "train.txt").string());
  EXPECT_EQ(c.output_model, (folder / "out.gguf").string());
  EXPECT_EQ(c.output_checkpoint, (folder / "out.ckpt.gguf").string());
  EXPECT_EQ(c.output_type, TensorType::F32);
  EXPECT_EQ(c.where("model.n_head"), d.dir.file("train.yaml") + ":4");
  EXPECT_EQ(c.where("train.seq_len"), d.dir.file("train.yaml"));  // not given: the file alone
}

TEST(TrainConfig, TokenizerForms) {
  ConfigDir d;
  const std::string base = kModel + kData + kOutput;
  EXPECT_EQ(load_train_config(d.config(base + "tokenizer: bpe\n")).tokenizer, TrainTokenizerKind::bpe);
  const TrainConfig bpe = load_train_config(d.config(base + "tokenizer:\n  bpe:\n    vocab_size: 300\n"));
  EXPECT_EQ(bpe.tokenizer, TrainTokenizerKind::bpe);
  EXPECT_EQ(bpe.bpe_vocab_size, 300);
  write(d.dir.file("vocab.gguf"), "x");
  const TrainConfig from = load_train_config(d.config(base + "tokenizer:\n  from: vocab.gguf\n"));
  EXPECT_EQ(from.tokenizer, TrainTokenizerKind::from_model);
  EXPECT_TRUE(contains(from.tokenizer_from, "vocab.gguf"));
}

TEST(TrainConfig, UnknownKeyNamesFileLineAndAllowedKeys) {
  ConfigDir d;
  const std::string path = d.config(kModel + kData + kOutput + "train:\n  steps: 10\n  learning_rate: 0.1\n");
  const std::string e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":14: unknown key 'learning_rate' in train")) << e;
  EXPECT_TRUE(contains(e, "lr")) << e;
}

TEST(TrainConfig, WrongTypeAndRangeNameTheKey) {
  ConfigDir d;
  const std::string base = kModel + kData + kOutput;
  std::string path = d.config(base + "train:\n  batch: many\n");
  std::string e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":13: 'train.batch' must be an integer")) << e;
  path = d.config(base + "train:\n  lr: -1\n");
  e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":13: 'train.lr' must be in (0")) << e;
  path = d.config(base + "train:\n  beta2: 1\n");
  e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":13: 'train.beta2' must be below 1")) << e;
  path = d.config(base + "train:\n  batch: 6\n  grad_accum: 4\n");
  e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":14: 'train.batch' 6 is not a multiple of 'train.grad_accum' 4")) << e;
  path = d.config(base + "train:\n  steps: 10\n  warmup: 20\n");
  e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":14: 'train.warmup' 20 is more than 'train.steps' 10")) << e;
}

TEST(TrainConfig, MissingFilesSectionsAndConflicts) {
  ConfigDir d;
  std::string path = d.config(kModel + "data:\n  text: [train.txt, nope.txt]\n" + kOutput);
  std::string e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":8: 'data.text': ")) << e;
  EXPECT_TRUE(contains(e, "nope.txt does not exist")) << e;
  path = d.config(kModel + kData);
  e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, "missing 'output:'")) << e;
  path = d.config("model:\n  n_embd: 16\n  n_layer: 1\n" + kData + kOutput);
  e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":2: model: missing 'n_head'")) << e;
  write(d.dir.file("base.gguf"), "x");
  path = d.config("model:\n  init: base.gguf\n  n_embd: 16\n" + kData + kOutput);
  e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":3: 'model.n_embd' cannot be combined with 'model.init'")) << e;
  path = d.config(kModel + "data:\n  heldout: heldout.txt\n" + kOutput);
  e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":8: data: give 'text'")) << e;
  path = d.config(kModel + kData + "output:\n  model: no/such/dir/out.gguf\n");
  e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":11: 'output.model': folder")) << e;
  path = d.config(kModel + kData + kOutput + "tokenizer: wordpiece\n");
  e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":12: 'tokenizer' must be byte, bpe")) << e;
  path = d.config(kModel + kData + "output:\n  model: out.gguf\n  type: q9_9\n");
  e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":12: 'output.type' 'q9_9' is not a tensor type")) << e;
}

TEST(TrainConfig, YamlSyntaxErrorNamesTheLine) {
  ConfigDir d;
  const std::string path = d.config(kModel + "data: [unclosed\n");
  const std::string e = error_of([&] { load_train_config(path); });
  EXPECT_TRUE(contains(e, path + ":")) << e;
  EXPECT_TRUE(contains(e, "YAML syntax")) << e;
}

TEST(TrainSetup, PreparesAByteModelFromTheConfig) {
  ConfigDir d;
  const TrainConfig c = load_train_config(d.config(kModel + kData + kOutput + "train:\n  batch: 4\n  seq_len: 32\n"));
  const PreparedTraining p = prepare_training(c, false);
  EXPECT_EQ(p.run.params.spec.n_vocab, kSynthByteVocabMin);  // the byte vocabulary, sized minimally
  EXPECT_EQ(p.run.vocab.size, kSynthByteVocabMin);
  EXPECT_EQ(p.summary.documents, 40);
  // Each paragraph: <s>, a space prefix, the 49 characters of the two lines joined by '\n', </s>.
  EXPECT_EQ(p.summary.train_tokens, 40 * (1 + 1 + 49 + 1));
  EXPECT_GT(p.summary.heldout_tokens, 10);
  EXPECT_EQ(p.run.settings.schedule.min_lr, c.lr / 10);
  EXPECT_TRUE(contains(p.run.fingerprint, "seq_len=32")) << p.run.fingerprint;
}

TEST(TrainSetup, TaskExamplesAndWholeFilesBecomeDocuments) {
  ConfigDir d;
  write(d.dir.file("t.jsonl"),
        "{\"task\": {\"template\": \"Q: {input}\\nA:\"}}\n"
        "{\"id\": \"1\", \"input\": \"ok?\", \"choices\": [\"yes\", \"no\"], \"label\": \"no\"}\n");
  const PreparedTraining p = prepare_training(
      load_train_config(d.config(kModel + "data:\n  text: train.txt\n  tasks: t.jsonl\n  split: file\n" + kOutput +
                                 "train:\n  batch: 1\n  seq_len: 8\n")),
      false);
  EXPECT_EQ(p.summary.documents, 2);  // train.txt whole, one task example
  // The task document "Q: ok?\nA: no" closes the stream: <s> U+2581 Q : U+2581 o k ? \n A : U+2581 n o </s>.
  const std::vector<int32_t> tail(p.run.train_ids.end() - 15, p.run.train_ids.end());
  const Tokenizer tok = tokenizer_from_vocab(p.run.vocab);
  EXPECT_EQ(tail.front(), tok.bos());
  EXPECT_EQ(tok.decode(tail), "Q: ok?\nA: no");
}

TEST(TrainSetup, SeqLenBeyondTheContextNamesBothKeys) {
  ConfigDir d;
  const std::string path = d.config(kModel + kData + kOutput + "train:\n  seq_len: 128\n");
  const std::string e = error_of([&] { prepare_training(load_train_config(path), false); });
  EXPECT_TRUE(contains(e, path + ":13: train.seq_len 128 is longer than model.n_ctx 64 (" + path + ":6)")) << e;
}

TEST(TrainSetup, DimensionsThatDoNotDivideNameTheKey) {
  ConfigDir d;
  std::string path = d.config("model:\n  n_embd: 18\n  n_layer: 1\n  n_head: 4\n  n_ff: 32\n" + kData + kOutput);
  std::string e = error_of([&] { prepare_training(load_train_config(path), false); });
  EXPECT_TRUE(contains(e, path + ":2: model.n_embd 18 is not a multiple of model.n_head 4")) << e;
  path = d.config("model:\n  n_embd: 18\n  n_layer: 1\n  n_head: 6\n  n_ff: 32\n" + kData + kOutput);
  e = error_of([&] { prepare_training(load_train_config(path), false); });
  EXPECT_TRUE(contains(e, path + ":4: head size 3")) << e;
  path = d.config("model:\n  n_embd: 16\n  n_layer: 1\n  n_head: 4\n  n_head_kv: 3\n  n_ff: 32\n" + kData + kOutput);
  e = error_of([&] { prepare_training(load_train_config(path), false); });
  EXPECT_TRUE(contains(e, path + ":5: model.n_head 4 is not a multiple of model.n_head_kv 3")) << e;
}

TEST(TrainSetup, TooLittleTextForOneBatchSaysHowMuchThereIs) {
  ConfigDir d;
  const std::string path = d.config(kModel + kData + kOutput + "train:\n  batch: 64\n  seq_len: 64\n");
  const std::string e = error_of([&] { prepare_training(load_train_config(path), false); });
  EXPECT_TRUE(contains(e, path + ":13: the training data has 2080 tokens, 32 sequences of train.seq_len 64; one update "
                                 "needs train.batch 64")) << e;
}

TEST(TrainSetup, TokenizerMustMatchTheInitModelsVocabulary) {
  ConfigDir d;
  const std::string base_model = test::write_tiny_f32_model(d.dir, 1, 0.02f, "base.gguf");  // byte vocabulary of kSynthByteVocabMin
  SynthSpec small;
  small.n_embd = 16;
  small.n_layer = 1;
  small.n_head = 2;
  small.n_head_kv = 2;
  small.n_ff = 32;
  small.n_vocab = 360;
  small.n_ctx = 64;
  SynthOptions so;
  so.type = TensorType::F32;
  write_synth_model(d.dir.file("other.gguf"), small, synth_byte_vocab(360), so);
  const std::string path = d.config("model:\n  init: base.gguf\ntokenizer:\n  from: other.gguf\n" + kData + kOutput);
  const std::string e = error_of([&] { prepare_training(load_train_config(path), false); });
  EXPECT_TRUE(contains(e, path + ":4: tokenizer.from other.gguf has 360 tokens, but model.init base.gguf has a vocabulary of 354"))
      << e;
  const std::string bpe = d.config("model:\n  init: base.gguf\ntokenizer: bpe\n" + kData + kOutput);
  EXPECT_TRUE(contains(error_of([&] { prepare_training(load_train_config(bpe), false); }), "cannot go with model.init"));
  // Without a tokenizer: the init model's own, and its shape.
  const PreparedTraining p =
      prepare_training(load_train_config(d.config("model:\n  init: base.gguf\n" + kData + kOutput + "train:\n  seq_len: 32\n")), false);
  EXPECT_EQ(p.run.params.spec.n_embd, 64);
  EXPECT_EQ(p.run.vocab.size, kSynthByteVocabMin);
}

TEST(TrainSetup, BpeVocabularyTheTextCannotReachNamesTheKey) {
  ConfigDir d;
  const std::string path = d.config(kModel + kData + kOutput + "tokenizer:\n  bpe:\n    vocab_size: 5000\n");
  const std::string e = error_of([&] { prepare_training(load_train_config(path), false); });
  EXPECT_TRUE(contains(e, path + ":14: tokenizer.bpe.vocab_size: ")) << e;
}

}  // namespace
}  // namespace bitdial
