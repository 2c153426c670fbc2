#include "eval/paired.h"

#include <algorithm>
#include <map>

#include "core/error.h"

namespace bitdial {
namespace {

bool same_prediction(const ExampleResult& b, const ExampleResult& c) {
  // Generation has no choice index: two outputs agree only when the text is identical, which is
  // stricter than both being correct (two different strings can both match the target).
  if (b.kind == TaskKind::generation) return b.output == c.output;
  return b.predicted == c.predicted;
}

// `rows` are indices into both reports, in file order, so the flip lists and the bootstrap's input
// (and hence its resampled indices) follow the file.
PairedSlice make_slice(std::string tag, const std::vector<size_t>& rows, const TaskReport& base,
                       const TaskReport& cand, int resamples, uint64_t seed) {
  PairedSlice s;
  s.tag = std::move(tag);
  std::vector<uint8_t> base_correct, cand_correct;
  int64_t agree = 0;
  for (size_t i : rows) {
    const ExampleResult& b = base.examples[i];
    const ExampleResult& c = cand.examples[i];
    if (!b.ok() || !c.ok()) {
      ++s.n_errors;
      continue;
    }
    agree += same_prediction(b, c);
    base_correct.push_back(b.correct);
    cand_correct.push_back(c.correct);
    if (b.correct && !c.correct) s.flipped_to_wrong.push_back(b.id);
    if (!b.correct && c.correct) s.flipped_to_right.push_back(b.id);
  }
  s.n = static_cast<int64_t>(base_correct.size());
  s.base_right_cand_wrong = static_cast<int64_t>(s.flipped_to_wrong.size());
  s.base_wrong_cand_right = static_cast<int64_t>(s.flipped_to_right.size());
  s.mcnemar_p = mcnemar_exact_p(s.base_right_cand_wrong, s.base_wrong_cand_right);
  // A slice whose every row errored has nothing to estimate: agreement, accuracies and delta stay
  // zero (delta.resamples == 0 marks it) rather than NaN, and p stays 1.
  if (s.n == 0) return s;
  s.agreement = proportion(agree, s.n);
  const auto count = [](const std::vector<uint8_t>& v) { return std::count(v.begin(), v.end(), uint8_t{1}); };
  s.accuracy_base = static_cast<double>(count(base_correct)) / static_cast<double>(s.n);
  s.accuracy_cand = static_cast<double>(count(cand_correct)) / static_cast<double>(s.n);
  s.delta = bootstrap_accuracy_delta(base_correct, cand_correct, resamples, seed);
  return s;
}

}  // namespace

PairedReport compare_paired(const TaskReport& base, const TaskReport& cand, int resamples, uint64_t seed) {
  if (base.examples.size() != cand.examples.size()) {
    fail("paired comparison: baseline has ", base.examples.size(), " examples, candidate has ",
         cand.examples.size());
  }
  std::vector<size_t> all(base.examples.size());
  std::map<std::string, std::vector<size_t>> by_tag;
  for (size_t i = 0; i < base.examples.size(); ++i) {
    const ExampleResult& b = base.examples[i];
    if (b.id != cand.examples[i].id) {
      fail("paired comparison: example ", i, " has id '", b.id, "' in the baseline but '", cand.examples[i].id,
           "' in the candidate");
    }
    all[i] = i;
    // Slices follow aggregate(): a tag listed twice on one example counts it once.
    std::vector<std::string> tags = b.tags;
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
    for (const std::string& t : tags) by_tag[t].push_back(i);
  }

  PairedReport r;
  r.overall = make_slice("", all, base, cand, resamples, seed);
  // Every slice restarts the generator from `seed`, so a slice's interval does not depend on which
  // other slices exist or their order.
  for (const auto& [tag, rows] : by_tag) r.slices.push_back(make_slice(tag, rows, base, cand, resamples, seed));
  return r;
}

}  // namespace bitdial
