// Task-evaluation throughput: 1,000 three-choice classification examples on stories260K (the
// evaluation issue's bar: "well under a minute on 2 threads"). Needs ../shared; run with
// OMP_NUM_THREADS=2 to reproduce the setting.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "eval/task_file.h"
#include "eval/task_runner.h"
#include "model/llama_model.h"

namespace bitdial {
namespace {

std::string thousand_examples() {
  const char* moods[] = {"happy", "sad", "angry"};
  const char* subjects[] = {"Lily", "Tom", "The dog", "The little bird", "Mom", "Ben"};
  std::string text = "{\"task\":{\"name\":\"mood\",\"template\":\"{input} The story was\"}}\n";
  for (int i = 0; i < 1000; ++i) {
    text += "{\"id\":\"m" + std::to_string(i) + "\",\"input\":\"" + subjects[i % 6] + " played in the park all day and " +
            (i % 2 ? "found a ball." : "lost a toy.") + "\",\"choices\":[\"happy\",\"sad\",\"angry\"],\"label\":\"" +
            moods[i % 3] + "\",\"tags\":[\"" + (i % 2 ? "found" : "lost") + "\"]}\n";
  }
  return text;
}

void bm_thousand_classification_examples(benchmark::State& state) {
  const char* env = std::getenv("BITDIAL_SHARED");
  const std::filesystem::path model = std::filesystem::path(env ? env : "../shared") / "models/stories260K.gguf";
  if (!std::filesystem::exists(model)) {
    state.SkipWithError(("needs " + model.string() + " (set BITDIAL_SHARED)").c_str());
    return;
  }
  const LlamaModel m = LlamaModel::load(model.string());
  const TaskFile tf = parse_task_text(thousand_examples(), "bench.jsonl");
  TaskRunner runner(m);
  for (auto _ : state) {
    const TaskReport r = runner.run(tf);
    benchmark::DoNotOptimize(r.overall.n_correct);
  }
  state.counters["examples/s"] = benchmark::Counter(1000.0 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(bm_thousand_classification_examples)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace bitdial

BENCHMARK_MAIN();
