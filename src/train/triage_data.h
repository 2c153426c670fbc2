// The bundled demo's data (examples/triage): a seeded generator of synthetic customer-support tickets
// labelled with their intent, with the edge-case slices quantization tends to break (very short,
// typos, long rambling, rare intent, odd casing). It writes the training text for `bitdial train`,
// the eval task file (DESIGN.md "Task data") and held-out / calibration texts.
//
// Determinism: every random choice comes from std::mt19937_64 (whose output sequence the C++
// standard fixes) through this module's own integer range mapping, never through
// std::uniform_*_distribution (implementation-defined), so one seed gives identical bytes everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bitdial {

// How a ticket's text was produced; each example has exactly one style.
enum class TicketStyle {
  clean,        // an untransformed ticket, optionally with a greeting and sign-off
  short_input,  // a headline of 1-4 words ("refund please")
  typo,         // a clean ticket with letters swapped, dropped, doubled or replaced by a keyboard neighbour
  long_input,   // the request buried among intent-neutral sentences, >= kTriageLongMinWords words
  mixed_case,   // a clean ticket in ALL CAPS or rAnDoM case
};
constexpr int kTicketStyleCount = 5;

// The slice tag of a style: "clean", "short", "typo", "long", "mixed_case".
const char* ticket_style_tag(TicketStyle style);
// Tag added to examples of the rare intent(s), whatever their style.
constexpr std::string_view kTriageRareTag = "rare";
constexpr int kTriageLongMinWords = 35;

// Training / held-out / calibration text: each example is rendered as
//   "Ticket: <text>\nIntent: <label>\n\n"
// and the eval task's header renders the same prompt: template "Ticket: {input}\nIntent:" with choice
// prefix " ", so a choice is scored as the continuation " <label>". Ticket texts never hold newlines.
constexpr std::string_view kTriagePromptTemplate = "Ticket: {input}\nIntent:";
constexpr std::string_view kTriageChoicePrefix = " ";
constexpr std::string_view kTriageTaskName = "triage";

// Files write_triage_files puts in its folder.
constexpr std::string_view kTriageTrainFile = "train.txt";
constexpr std::string_view kTriageTaskFile = "tasks.jsonl";
constexpr std::string_view kTriageHeldoutFile = "heldout.txt";
constexpr std::string_view kTriageCalibFile = "calib.txt";

struct TriageOptions {
  uint64_t seed = 1;
  int64_t train_examples = 4000;
  int64_t heldout_examples = 300;
  int64_t calib_examples = 200;
  // Eval set: eval_per_style examples of the common intents for each style (intents in turn, so
  // balanced), plus eval_rare examples of the rare intent(s) with the styles in turn.
  int64_t eval_per_style = 60;
  int64_t eval_rare = 40;
  // Share of the rare intent(s) in the training, held-out and calibration sets (exact count, rounded).
  double rare_share = 0.025;
  // Shares of the transformed styles in the training, held-out and calibration sets (exact counts,
  // rounded); the rest is clean. Their sum must be <= 1.
  double short_share = 0.12;
  double typo_share = 0.12;
  double long_share = 0.10;
  double mixed_case_share = 0.10;
  // Chance that each letter of a typo ticket gets an edit (at least one edit is always made).
  double typo_rate = 0.05;
};

struct TriageExample {
  std::string id;     // eval: "t0001", ...; other sets: "train-1", "heldout-1", ...
  std::string text;   // the ticket, one line
  std::string label;  // its intent
  TicketStyle style = TicketStyle::clean;
  bool rare = false;  // the intent is a rare one
  // The slice tags: the style's tag, then "rare" for a rare intent.
  std::vector<std::string> tags() const;
};

struct TriageDataset {
  TriageOptions options;
  std::vector<std::string> labels;       // every intent, in choice order
  std::vector<std::string> rare_labels;  // the rare ones among them
  // No ticket text of a set occurs in a set listed before it (eval first, train last), and no text
  // occurs twice within eval. Each set has its own random stream.
  std::vector<TriageExample> eval;
  std::vector<TriageExample> heldout;
  std::vector<TriageExample> calib;
  std::vector<TriageExample> train;
};

// Throws bitdial::Error naming the option when a count is negative (or eval_per_style is 0), a share
// is outside [0, 1], the style shares sum above 1, or typo_rate is outside [0, 1].
void validate_triage_options(const TriageOptions& options);

// Generates all four sets. Same options -> identical dataset. Throws bitdial::Error on invalid
// options, or when a set cannot find a new text for a slot after many tries (counts far beyond what
// the phrase tables can produce).
TriageDataset generate_triage(const TriageOptions& options);

// "Ticket: <text>\nIntent: <label>\n\n" for each example, concatenated.
std::string render_triage_text(const std::vector<TriageExample>& examples);

// The eval task file: the {"task": {...}} header line, then one JSON object a line with id, input,
// choices (every label, in dataset order), label and tags.
std::string render_triage_tasks(const TriageDataset& dataset);

// Writes train.txt, tasks.jsonl, heldout.txt and calib.txt into dir (created when missing), each
// atomically. Throws bitdial::Error naming the path on I/O failure.
void write_triage_files(const TriageDataset& dataset, const std::string& dir);

}  // namespace bitdial
