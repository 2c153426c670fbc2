// The demo's support-ticket dataset (train/triage_data.h): seeded determinism, every intent and
// slice present in the documented numbers, slice shapes (short, long, single-line), the rare share,
// sets disjoint from eval, and a task file bitdial's own parser accepts with the training prompt.
#include "train/triage_data.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/task_file.h"
#include "test_support.h"

namespace bitdial {
namespace {

// The default dataset, generated once per test binary.
const TriageDataset& default_dataset() {
  static const TriageDataset d = generate_triage(TriageOptions{});
  return d;
}

TriageOptions small_options(uint64_t seed) {
  TriageOptions o;
  o.seed = seed;
  o.train_examples = 400;
  o.heldout_examples = 50;
  o.calib_examples = 50;
  o.eval_per_style = 20;
  o.eval_rare = 20;
  return o;
}

int64_t count_words(const std::string& s) {
  int64_t n = 0;
  bool in_word = false;
  for (char c : s) {
    const bool space = c == ' ';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

std::vector<const std::vector<TriageExample>*> all_sets(const TriageDataset& d) {
  return {&d.eval, &d.heldout, &d.calib, &d.train};
}

TEST(TriageData, SameSeedGivesIdenticalBytes) {
  const TriageDataset a = generate_triage(small_options(7));
  const TriageDataset b = generate_triage(small_options(7));
  EXPECT_EQ(render_triage_tasks(a), render_triage_tasks(b));
  EXPECT_EQ(render_triage_text(a.train), render_triage_text(b.train));
  EXPECT_EQ(render_triage_text(a.heldout), render_triage_text(b.heldout));
  EXPECT_EQ(render_triage_text(a.calib), render_triage_text(b.calib));
}

TEST(TriageData, DifferentSeedGivesDifferentText) {
  const TriageDataset a = generate_triage(small_options(7));
  const TriageDataset b = generate_triage(small_options(8));
  EXPECT_NE(render_triage_tasks(a), render_triage_tasks(b));
  EXPECT_NE(render_triage_text(a.train), render_triage_text(b.train));
  EXPECT_NE(render_triage_text(a.heldout), render_triage_text(b.heldout));
  EXPECT_NE(render_triage_text(a.calib), render_triage_text(b.calib));
}

TEST(TriageData, SetsHaveTheRequestedSizes) {
  const TriageDataset& d = default_dataset();
  const TriageOptions& o = d.options;
  EXPECT_EQ(static_cast<int64_t>(d.train.size()), o.train_examples);
  EXPECT_EQ(static_cast<int64_t>(d.heldout.size()), o.heldout_examples);
  EXPECT_EQ(static_cast<int64_t>(d.calib.size()), o.calib_examples);
  EXPECT_EQ(static_cast<int64_t>(d.eval.size()), kTicketStyleCount * o.eval_per_style + o.eval_rare);
}

TEST(TriageData, EvalHasEverySliceAndIntentAtLeastTwentyTimes) {
  const TriageDataset& d = default_dataset();
  std::map<std::string, int> per_tag, per_label;
  for (const TriageExample& ex : d.eval) {
    for (const std::string& t : ex.tags()) ++per_tag[t];
    ++per_label[ex.label];
  }
  for (const char* tag : {"clean", "short", "typo", "long", "mixed_case", "rare"}) EXPECT_GE(per_tag[tag], 20) << tag;
  EXPECT_EQ(per_tag.size(), 6u);
  EXPECT_GE(d.labels.size(), 8u);
  for (const std::string& label : d.labels) EXPECT_GE(per_label[label], 20) << label;
  EXPECT_EQ(per_label.size(), d.labels.size());
}

TEST(TriageData, TrainingSetHasEveryIntentAndStyle) {
  const TriageDataset& d = default_dataset();
  std::map<std::string, int> per_label;
  std::map<TicketStyle, int> per_style;
  for (const TriageExample& ex : d.train) {
    ++per_label[ex.label];
    ++per_style[ex.style];
  }
  for (const std::string& label : d.labels) EXPECT_GE(per_label[label], 50) << label;
  const auto n = static_cast<double>(d.train.size());
  EXPECT_NEAR(per_style[TicketStyle::short_input] / n, d.options.short_share, 0.001);
  EXPECT_NEAR(per_style[TicketStyle::typo] / n, d.options.typo_share, 0.001);
  EXPECT_NEAR(per_style[TicketStyle::long_input] / n, d.options.long_share, 0.001);
  EXPECT_NEAR(per_style[TicketStyle::mixed_case] / n, d.options.mixed_case_share, 0.001);
  EXPECT_GE(per_style[TicketStyle::clean], 0.5 * n);
}

TEST(TriageData, RareIntentIsTwoToThreePercentOfTraining) {
  const TriageDataset& d = default_dataset();
  ASSERT_FALSE(d.rare_labels.empty());
  const std::set<std::string> rare(d.rare_labels.begin(), d.rare_labels.end());
  int64_t n_rare = 0;
  for (const TriageExample& ex : d.train) {
    EXPECT_EQ(ex.rare, rare.count(ex.label) == 1) << ex.id;
    n_rare += ex.rare;
  }
  const double share = static_cast<double>(n_rare) / static_cast<double>(d.train.size());
  EXPECT_GE(share, 0.02);
  EXPECT_LE(share, 0.03);
}

TEST(TriageData, ShortInputsHaveOneToFourWords) {
  const TriageDataset& d = default_dataset();
  int64_t seen = 0;
  for (const auto* set : all_sets(d))
    for (const TriageExample& ex : *set)
      if (ex.style == TicketStyle::short_input) {
        ++seen;
        const int64_t words = count_words(ex.text);
        EXPECT_GE(words, 1) << ex.id;
        EXPECT_LE(words, 4) << ex.id << ": " << ex.text;
      }
  EXPECT_GT(seen, 100);
}

TEST(TriageData, LongInputsHaveAtLeastTheMinimumWords) {
  const TriageDataset& d = default_dataset();
  for (const auto* set : all_sets(d))
    for (const TriageExample& ex : *set)
      if (ex.style == TicketStyle::long_input) {
        EXPECT_GE(count_words(ex.text), kTriageLongMinWords) << ex.id;
      }
}

TEST(TriageData, TicketsAreSingleNonEmptyLines) {
  const TriageDataset& d = default_dataset();
  for (const auto* set : all_sets(d))
    for (const TriageExample& ex : *set) {
      EXPECT_FALSE(ex.text.empty()) << ex.id;
      EXPECT_EQ(ex.text.find('\n'), std::string::npos) << ex.id;
      EXPECT_EQ(ex.text.find('{'), std::string::npos) << ex.id << ": unfilled slot in " << ex.text;
    }
}

TEST(TriageData, MixedCaseTicketsAreNotInTheirWrittenCase) {
  // A clean ticket starts with a capital and continues in lower case; a mixed-case one has capitals
  // further in (ALL CAPS or random case), in every example.
  const TriageDataset& d = default_dataset();
  for (const TriageExample& ex : d.eval)
    if (ex.style == TicketStyle::mixed_case) {
      int upper_after_first = 0;
      for (size_t i = 1; i < ex.text.size(); ++i) upper_after_first += ex.text[i] >= 'A' && ex.text[i] <= 'Z';
      EXPECT_GE(upper_after_first, 3) << ex.text;
    }
}

TEST(TriageData, NoEvalInputAppearsInTheOtherSets) {
  const TriageDataset& d = default_dataset();
  const std::string train = render_triage_text(d.train);
  const std::string heldout = render_triage_text(d.heldout);
  const std::string calib = render_triage_text(d.calib);
  std::set<std::string> eval_inputs;
  for (const TriageExample& ex : d.eval) {
    EXPECT_TRUE(eval_inputs.insert(ex.text).second) << "duplicate eval input " << ex.text;
    const std::string line = "Ticket: " + ex.text + "\n";
    EXPECT_EQ(train.find(line), std::string::npos) << ex.text;
    EXPECT_EQ(heldout.find(line), std::string::npos) << ex.text;
    EXPECT_EQ(calib.find(line), std::string::npos) << ex.text;
  }
  std::set<std::string> heldout_inputs;
  for (const TriageExample& ex : d.heldout) heldout_inputs.insert(ex.text);
  for (const TriageExample& ex : d.train) EXPECT_EQ(heldout_inputs.count(ex.text), 0u) << ex.text;
}

TEST(TriageData, TaskFileParsesWithEveryLabelAmongTheChoices) {
  const TriageDataset& d = default_dataset();
  const TaskFile f = parse_task_text(render_triage_tasks(d), "tasks.jsonl");
  EXPECT_EQ(f.header.name, kTriageTaskName);
  ASSERT_EQ(f.examples.size(), d.eval.size());
  for (size_t i = 0; i < f.examples.size(); ++i) {
    const TaskExample& ex = f.examples[i];
    EXPECT_EQ(ex.kind, TaskKind::classification);
    EXPECT_EQ(ex.choices, d.labels);
    ASSERT_GE(ex.label, 0);
    ASSERT_LT(ex.label, static_cast<int64_t>(ex.choices.size()));
    EXPECT_EQ(ex.choices[static_cast<size_t>(ex.label)], d.eval[i].label);
    EXPECT_EQ(ex.input, d.eval[i].text);
    EXPECT_EQ(ex.tags, d.eval[i].tags());
  }
}

TEST(TriageData, TaskPromptPlusLabelIsTheTrainingTextOfTheExample) {
  // What the eval scores (prompt + choice prefix + label) must be what training showed the model.
  const TriageDataset& d = default_dataset();
  const TaskFile f = parse_task_text(render_triage_tasks(d), "tasks.jsonl");
  for (size_t i = 0; i < f.examples.size(); ++i) {
    const TaskExample& ex = f.examples[i];
    const std::string scored = ex.prompt + f.header.choice_prefix + ex.choices[static_cast<size_t>(ex.label)];
    EXPECT_EQ(render_triage_text({d.eval[i]}), scored + "\n\n");
  }
}

TEST(TriageData, WritesTheFourFiles) {
  const TriageDataset d = generate_triage(small_options(3));
  test::TempDir dir;
  const std::string out = dir.file("triage");  // created by the writer
  write_triage_files(d, out);
  const auto file = [&out](std::string_view name) { return read_file(out + "/" + std::string(name)); };
  EXPECT_EQ(file(kTriageTrainFile), render_triage_text(d.train));
  EXPECT_EQ(file(kTriageTaskFile), render_triage_tasks(d));
  EXPECT_EQ(file(kTriageHeldoutFile), render_triage_text(d.heldout));
  EXPECT_EQ(file(kTriageCalibFile), render_triage_text(d.calib));
  EXPECT_NO_THROW(read_task_file(out + "/" + std::string(kTriageTaskFile)));
}

TEST(TriageData, InvalidOptionsAreRejectedByName) {
  const auto message = [](const TriageOptions& o) {
    try {
      generate_triage(o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  TriageOptions o;
  o.train_examples = -1;
  EXPECT_NE(message(o).find("train_examples"), std::string::npos);
  o = TriageOptions{};
  o.rare_share = 1.5;
  EXPECT_NE(message(o).find("rare_share"), std::string::npos);
  o = TriageOptions{};
  o.short_share = o.typo_share = o.long_share = o.mixed_case_share = 0.3;
  EXPECT_NE(message(o).find("style shares"), std::string::npos);
  o = TriageOptions{};
  o.eval_per_style = 0;
  EXPECT_NE(message(o).find("eval_per_style"), std::string::npos);
}

TEST(TriageData, ImpossibleUniquenessFailsInsteadOfLooping) {
  // Far more unique eval headlines than the phrase tables can spell.
  TriageOptions o = small_options(1);
  o.eval_per_style = 200000;
  try {
    generate_triage(o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot find a new"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bitdial
