// Paired comparison on hand-built task reports (no model): agreement, flip lists, accuracy delta
// with its bootstrap interval, McNemar's p, per-tag slices, error rows and id checks.
#include "eval/paired.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"

namespace bitdial {
namespace {

ExampleResult cls(const std::string& id, int64_t predicted, bool correct, std::vector<std::string> tags = {}) {
  ExampleResult r;
  r.id = id;
  r.tags = std::move(tags);
  r.kind = TaskKind::classification;
  r.predicted = predicted;
  r.correct = correct;
  return r;
}

ExampleResult gen(const std::string& id, const std::string& output, bool correct) {
  ExampleResult r;
  r.id = id;
  r.kind = TaskKind::generation;
  r.output = output;
  r.correct = correct;
  return r;
}

ExampleResult errored(const std::string& id, std::vector<std::string> tags = {}) {
  ExampleResult r;
  r.id = id;
  r.tags = std::move(tags);
  r.error = "prompt longer than the context";
  return r;
}

TaskReport report(std::vector<ExampleResult> rows) {
  TaskReport t;
  t.task_name = "t";
  t.examples = std::move(rows);
  return t;
}

// Appended rather than "e" + std::to_string(i), which trips a GCC 12 -Wrestrict false positive at -O3.
std::string numbered_id(int i) {
  std::string id = "e";
  id += std::to_string(i);
  return id;
}

// Correct choice is 0 everywhere, so predicted == 0 <=> correct.
ExampleResult right(const std::string& id) { return cls(id, 0, true); }
ExampleResult wrong(const std::string& id) { return cls(id, 1, false); }

TEST(Paired, IdenticalReportsAgreeFullyWithZeroDeltaAndNoFlips) {
  const TaskReport t = report({right("a"), wrong("b"), right("c"), right("d")});
  const PairedReport p = compare_paired(t, t, 200, 7);
  EXPECT_EQ(p.overall.n, 4);
  EXPECT_EQ(p.overall.agreement.k, 4);
  EXPECT_DOUBLE_EQ(p.overall.agreement.p, 1.0);
  EXPECT_DOUBLE_EQ(p.overall.accuracy_base, 0.75);
  EXPECT_DOUBLE_EQ(p.overall.accuracy_cand, 0.75);
  EXPECT_EQ(p.overall.delta.delta, 0.0);
  EXPECT_EQ(p.overall.delta.lo, 0.0);
  EXPECT_EQ(p.overall.delta.hi, 0.0);
  EXPECT_EQ(p.overall.mcnemar_p, 1.0);
  EXPECT_TRUE(p.overall.flipped_to_wrong.empty());
  EXPECT_TRUE(p.overall.flipped_to_right.empty());
  EXPECT_TRUE(p.slices.empty());
}

TEST(Paired, HandCaseGivesDeltaMcNemarAndFlipLists) {
  // base right on e0..e7 (8/10), cand right on e0..e4 and e8 (6/10).
  // b = {e5, e6, e7} (3), c = {e8} (1): delta = (6 - 8)/10 = -0.2;
  // p = 2 * P(X <= 1 | n=4, 1/2) = 2 * (1 + 4)/16 = 0.625.
  // Agreement: same predicted on e0..e4 and e9 (both wrong with predicted 1) = 6/10.
  std::vector<ExampleResult> b, c;
  for (int i = 0; i < 10; ++i) {
    const std::string id = numbered_id(i);
    b.push_back(i < 8 ? right(id) : wrong(id));
    c.push_back(i < 5 || i == 8 ? right(id) : wrong(id));
  }
  const PairedReport p = compare_paired(report(b), report(c), 1000, 3);
  const PairedSlice& s = p.overall;
  EXPECT_EQ(s.tag, "");
  EXPECT_EQ(s.n, 10);
  EXPECT_EQ(s.n_errors, 0);
  EXPECT_DOUBLE_EQ(s.accuracy_base, 0.8);
  EXPECT_DOUBLE_EQ(s.accuracy_cand, 0.6);
  EXPECT_NEAR(s.delta.delta, -0.2, 1e-12);
  EXPECT_EQ(s.delta.resamples, 1000);
  EXPECT_EQ(s.delta.seed, 3u);
  EXPECT_LE(s.delta.lo, s.delta.delta);
  EXPECT_GE(s.delta.hi, s.delta.delta);
  EXPECT_EQ(s.base_right_cand_wrong, 3);
  EXPECT_EQ(s.base_wrong_cand_right, 1);
  EXPECT_DOUBLE_EQ(s.mcnemar_p, 0.625);
  EXPECT_EQ(s.flipped_to_wrong, (std::vector<std::string>{"e5", "e6", "e7"}));
  EXPECT_EQ(s.flipped_to_right, (std::vector<std::string>{"e8"}));
  EXPECT_EQ(s.agreement.k, 6);
  EXPECT_EQ(s.agreement.n, 10);
}

TEST(Paired, SlicesPerTagSortedAndRepeatedTagCountsOnce) {
  // x: a, b, c (b tagged x twice); y: c, d. base all right; cand wrong on b and d.
  const TaskReport base = report({cls("a", 0, true, {"x"}), cls("b", 0, true, {"x", "x"}),
                                  cls("c", 0, true, {"y", "x"}), cls("d", 0, true, {"y"})});
  const TaskReport cand = report({cls("a", 0, true, {"x"}), cls("b", 1, false, {"x", "x"}),
                                  cls("c", 0, true, {"y", "x"}), cls("d", 1, false, {"y"})});
  const PairedReport p = compare_paired(base, cand, 100, 0);
  ASSERT_EQ(p.slices.size(), 2u);
  const PairedSlice& x = p.slices[0];
  const PairedSlice& y = p.slices[1];
  EXPECT_EQ(x.tag, "x");
  EXPECT_EQ(x.n, 3);
  EXPECT_EQ(x.agreement.k, 2);
  EXPECT_EQ(x.flipped_to_wrong, (std::vector<std::string>{"b"}));
  EXPECT_NEAR(x.delta.delta, -1.0 / 3, 1e-12);
  EXPECT_EQ(y.tag, "y");
  EXPECT_EQ(y.n, 2);
  EXPECT_EQ(y.agreement.k, 1);
  EXPECT_EQ(y.flipped_to_wrong, (std::vector<std::string>{"d"}));
  EXPECT_NEAR(y.delta.delta, -0.5, 1e-12);
  EXPECT_EQ(p.overall.n, 4);
  EXPECT_EQ(p.overall.flipped_to_wrong, (std::vector<std::string>{"b", "d"}));
}

TEST(Paired, ErrorRowsInEitherReportAreExcludedAndCounted) {
  // b errors in base only, c in cand only; both tagged t. Scored: a (flip to wrong), d (flip to right).
  const TaskReport base = report({cls("a", 0, true, {"t"}), errored("b", {"t"}), cls("c", 0, true, {"t"}),
                                  cls("d", 1, false)});
  const TaskReport cand = report({cls("a", 1, false, {"t"}), cls("b", 0, true, {"t"}), errored("c", {"t"}),
                                  cls("d", 0, true)});
  const PairedReport p = compare_paired(base, cand, 100, 0);
  EXPECT_EQ(p.overall.n, 2);
  EXPECT_EQ(p.overall.n_errors, 2);
  EXPECT_EQ(p.overall.flipped_to_wrong, (std::vector<std::string>{"a"}));
  EXPECT_EQ(p.overall.flipped_to_right, (std::vector<std::string>{"d"}));
  EXPECT_DOUBLE_EQ(p.overall.accuracy_base, 0.5);
  EXPECT_DOUBLE_EQ(p.overall.accuracy_cand, 0.5);
  ASSERT_EQ(p.slices.size(), 1u);
  EXPECT_EQ(p.slices[0].n, 1);
  EXPECT_EQ(p.slices[0].n_errors, 2);
}

TEST(Paired, SliceWithOnlyErrorRowsHasZeroedDeltaAndUnitP) {
  const TaskReport base = report({right("a"), errored("b", {"t"})});
  const TaskReport cand = report({right("a"), right("b")});
  const PairedReport p = compare_paired(base, cand, 100, 0);
  ASSERT_EQ(p.slices.size(), 1u);
  const PairedSlice& t = p.slices[0];
  EXPECT_EQ(t.n, 0);
  EXPECT_EQ(t.n_errors, 1);
  EXPECT_EQ(t.delta.resamples, 0);
  EXPECT_EQ(t.delta.delta, 0.0);
  EXPECT_EQ(t.mcnemar_p, 1.0);
  EXPECT_EQ(t.agreement.n, 0);
}

TEST(Paired, GenerationAgreementComparesOutputText) {
  // g1: same text; g2: both correct but different text (disagree); g3: same wrong text.
  const TaskReport base = report({gen("g1", "Paris", true), gen("g2", "Paris", true), gen("g3", "Rome", false)});
  const TaskReport cand = report({gen("g1", "Paris", true), gen("g2", " Paris.", true), gen("g3", "Rome", false)});
  const PairedReport p = compare_paired(base, cand, 100, 0);
  EXPECT_EQ(p.overall.agreement.k, 2);
  EXPECT_EQ(p.overall.agreement.n, 3);
  EXPECT_EQ(p.overall.delta.delta, 0.0);
}

TEST(Paired, MismatchedIdsThrowNamingTheId) {
  const TaskReport base = report({right("a"), right("b"), right("c")});
  const TaskReport cand = report({right("a"), right("zz"), right("c")});
  try {
    compare_paired(base, cand, 100, 0);
    FAIL() << "expected bitdial::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("example 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'b'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'zz'"), std::string::npos) << msg;
  }
}

TEST(Paired, DifferentExampleCountsThrow) {
  EXPECT_THROW(compare_paired(report({right("a")}), report({right("a"), right("b")}), 100, 0), Error);
}

std::vector<uint8_t> correctness(const std::vector<ExampleResult>& rows) {
  std::vector<uint8_t> v;
  for (const ExampleResult& r : rows) v.push_back(r.correct);
  return v;
}

TEST(Paired, FixedSeedGivesTheSameIntervalAsTheBootstrapOverFileOrder) {
  std::vector<ExampleResult> b, c;
  for (int i = 0; i < 40; ++i) {
    const std::string id = numbered_id(i);
    b.push_back(i % 3 ? right(id) : wrong(id));
    c.push_back(i % 4 ? right(id) : wrong(id));
  }
  const PairedReport p1 = compare_paired(report(b), report(c), 500, 42);
  const PairedReport p2 = compare_paired(report(b), report(c), 500, 42);
  EXPECT_EQ(p1.overall.delta.lo, p2.overall.delta.lo);
  EXPECT_EQ(p1.overall.delta.hi, p2.overall.delta.hi);
  EXPECT_LT(p1.overall.delta.lo, p1.overall.delta.hi);
  const BootstrapDelta direct = bootstrap_accuracy_delta(correctness(b), correctness(c), 500, 42);
  EXPECT_EQ(p1.overall.delta.delta, direct.delta);
  EXPECT_EQ(p1.overall.delta.lo, direct.lo);
  EXPECT_EQ(p1.overall.delta.hi, direct.hi);
}

}  // namespace
}  // namespace bitdial
