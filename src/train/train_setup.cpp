#include "train/train_setup.h"

#include <cstdio>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/sha256.h"
#include "eval/task_file.h"
#include "model/llama_model.h"
#include "train/bpe_trainer.h"
#include "train/init_params.h"
#include "train/token_stream.h"

namespace bitdial {

namespace {

std::string file_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

// The vocabulary of a fresh model, or of one continued from model.init (whose embeddings fix the size).
SynthVocab make_vocab(const TrainConfig& cfg, const std::vector<std::string>& docs, int64_t init_vocab,
                      std::string& description) {
  SynthVocab vocab;
  switch (cfg.tokenizer) {
    case TrainTokenizerKind::byte: {
      const int64_t n = init_vocab > 0 ? init_vocab : kSynthByteVocabMin;
      if (n < kSynthByteVocabMin)
        fail(cfg.where("tokenizer"), ": tokenizer byte needs ", kSynthByteVocabMin, " tokens, model.init ",
             file_name(cfg.init), " has ", n);
      vocab = synth_byte_vocab(n);
      description = concat("byte (", n, " tokens)");
      break;
    }
    case TrainTokenizerKind::bpe: {
      if (init_vocab > 0)
        fail(cfg.where("tokenizer"), ": a newly trained bpe vocabulary cannot go with model.init (its embeddings belong to ",
             file_name(cfg.init), "'s tokenizer; leave 'tokenizer' out to use it)");
      std::string text;
      for (const std::string& d : docs) (text += d) += '\n';
      BpeTrainOptions o;
      o.vocab_size = cfg.bpe_vocab_size;
      try {
        vocab = bpe_synth_vocab(train_bpe(text, o));
      } catch (const Error& e) {
        fail(cfg.where("tokenizer.bpe.vocab_size"), ": tokenizer.bpe.vocab_size: ", e.what());
      }
      description = concat("bpe (", vocab.size, " tokens, trained on the training text)");
      break;
    }
    case TrainTokenizerKind::from_model:
      vocab = synth_vocab_from_gguf(cfg.tokenizer_from);
      description = concat("from ", file_name(cfg.tokenizer_from), " (", vocab.size, " tokens)");
      if (init_vocab > 0 && vocab.size != init_vocab)
        fail(cfg.where("tokenizer.from"), ": tokenizer.from ", file_name(cfg.tokenizer_from), " has ", vocab.size,
             " tokens, but model.init ", file_name(cfg.init), " has a vocabulary of ", init_vocab);
      break;
  }
  return vocab;
}

// Shape checks with the config's key names (validate_synth_spec's messages name command-line flags).
void check_shape(const TrainConfig& cfg, const SynthSpec& s) {
  const auto at = [&](const char* key) { return cfg.where(std::string("model.") + key); };
  if (s.n_embd % s.n_head != 0)
    fail(at("n_embd"), ": model.n_embd ", s.n_embd, " is not a multiple of model.n_head ", s.n_head);
  if (s.head_dim() % 2 != 0)
    fail(at("n_head"), ": head size ", s.head_dim(), " (model.n_embd / model.n_head) is odd; rotary embeddings need it even");
  if (s.n_head % s.n_head_kv != 0)
    fail(at("n_head_kv"), ": model.n_head ", s.n_head, " is not a multiple of model.n_head_kv ", s.n_head_kv);
  try {
    validate_synth_spec(s);
  } catch (const Error& e) {
    fail(cfg.where("model"), ": model: ", e.what());
  }
}

std::string ids_sha(const std::vector<int32_t>& ids) {
  return sha256_hex(std::string_view(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int32_t)));
}

std::string num(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

// Everything a resume must find unchanged; train.steps is left out so a finished run can be extended
// (the schedule then follows the new length from the resumed step on).
std::string fingerprint(const SynthSpec& s, const Tokenizer& tok, const std::vector<int32_t>& train_ids,
                        const TrainSettings& t) {
  std::string vocab_text;
  for (size_t i = 0; i < tok.vocab_size(); ++i) (vocab_text += tok.token_text(static_cast<int32_t>(i))) += '\0';
  return concat("version=1 n_embd=", s.n_embd, " n_layer=", s.n_layer, " n_head=", s.n_head, " n_head_kv=", s.n_head_kv,
                " n_ff=", s.n_ff, " n_vocab=", s.n_vocab, " n_ctx=", s.n_ctx, " rope_base=", num(s.rope_base),
                " rms_eps=", num(s.rms_eps), " tied_embeddings=", s.tied_embeddings ? 1 : 0,
                " vocab_sha256=", sha256_hex(vocab_text).substr(0, 16), " data_sha256=", ids_sha(train_ids).substr(0, 16),
                " batch=", t.batch, " seq_len=", t.seq_len, " grad_accum=", t.grad_accum, " lr=", num(t.schedule.peak_lr),
                " min_lr=", num(t.schedule.min_lr), " warmup=", t.schedule.warmup_steps, " weight_decay=",
                num(t.adamw.weight_decay), " beta1=", num(t.adamw.beta1), " beta2=", num(t.adamw.beta2),
                " clip=", num(t.clip), " seed=", t.seed);
}

}  // namespace

PreparedTraining prepare_training(const TrainConfig& cfg, bool resume) {
  PreparedTraining out;
  TrainRun& run = out.run;
  TrainDataSummary& sum = out.summary;

  std::vector<std::string> docs;
  for (const std::string& f : cfg.text)
    for (std::string& d : split_documents(read_file(f), cfg.split)) docs.push_back(std::move(d));
  if (!cfg.tasks.empty())
    for (std::string& d : task_documents(read_task_file(cfg.tasks))) docs.push_back(std::move(d));
  if (docs.empty()) fail(cfg.where("data.text"), ": data: the training files hold no text");
  sum.documents = static_cast<int64_t>(docs.size());

  // Weights first for model.init: its vocabulary size constrains the tokenizer.
  if (!cfg.init.empty()) {
    run.params = params_from_model(LlamaModel::load(cfg.init));
    if (!cfg.tokenizer_given) {
      run.vocab = synth_vocab_from_gguf(cfg.init);
      sum.tokenizer = concat("from ", file_name(cfg.init), " (", run.vocab.size, " tokens)");
    } else {
      run.vocab = make_vocab(cfg, docs, run.params.spec.n_vocab, sum.tokenizer);
    }
  } else {
    run.vocab = make_vocab(cfg, docs, 0, sum.tokenizer);
    SynthSpec spec = cfg.spec;
    spec.n_vocab = run.vocab.size;
    if (spec.n_ctx == 0) spec.n_ctx = cfg.seq_len;
    check_shape(cfg, spec);
    run.params = init_params(spec, cfg.seed, cfg.init_std);
  }
  const SynthSpec& spec = run.params.spec;
  if (cfg.seq_len > spec.n_ctx) {
    const std::string ctx = cfg.init.empty() ? concat("model.n_ctx ", spec.n_ctx, " (", cfg.where("model.n_ctx"), ")")
                                             : concat("the context length ", spec.n_ctx, " of ", file_name(cfg.init));
    fail(cfg.where("train.seq_len"), ": train.seq_len ", cfg.seq_len, " is longer than ", ctx);
  }

  const Tokenizer tok = tokenizer_from_vocab(run.vocab);
  for (const std::string& d : docs) append_document(tok, d, run.train_ids);
  for (const std::string& f : cfg.heldout)
    for (const std::string& d : split_documents(read_file(f), cfg.split)) append_document(tok, d, run.heldout_ids);
  if (!cfg.heldout.empty() && run.heldout_ids.size() < 2)
    fail(cfg.where("data.heldout"), ": data.heldout holds ", run.heldout_ids.size(), " tokens; it needs at least 2");
  sum.train_tokens = static_cast<int64_t>(run.train_ids.size());
  sum.heldout_tokens = static_cast<int64_t>(run.heldout_ids.size());
  const int64_t windows = (sum.train_tokens - 1) / cfg.seq_len;
  if (windows < cfg.batch)
    fail(cfg.where("train.batch"), ": the training data has ", sum.train_tokens, " tokens, ", windows, " sequences of train.seq_len ",
         cfg.seq_len, "; one update needs train.batch ", cfg.batch, " (add text, or lower train.batch or train.seq_len)");

  TrainSettings& t = run.settings;
  t.steps = cfg.steps;
  t.batch = cfg.batch;
  t.seq_len = cfg.seq_len;
  t.grad_accum = cfg.grad_accum;
  t.schedule.peak_lr = cfg.lr;
  t.schedule.min_lr = cfg.min_lr ? *cfg.min_lr : cfg.lr / 10.0;
  t.schedule.warmup_steps = cfg.warmup;
  t.schedule.total_steps = cfg.steps;
  t.adamw.beta1 = cfg.beta1;
  t.adamw.beta2 = cfg.beta2;
  t.adamw.weight_decay = cfg.weight_decay;
  t.clip = cfg.clip;
  t.seed = cfg.seed;
  t.eval_every = cfg.eval_every;
  t.eval_tokens = cfg.eval_tokens;
  t.checkpoint_every = cfg.checkpoint_every;
  try {
    validate_train_settings(t, spec);
  } catch (const Error& e) {
    fail(cfg.path, ": ", e.what());
  }

  run.checkpoint_path = cfg.output_checkpoint;
  run.resume = resume;
  run.fingerprint = fingerprint(spec, tok, run.train_ids, t);
  run.output_path = cfg.output_model;
  run.export_options.type = cfg.output_type;
  run.export_options.description = "trained by bitdial train (" + file_name(cfg.path) + ")";
  run.threads = cfg.threads;
  return out;
}

}  // namespace bitdial
