#include "train/triage_data.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "train/triage_phrases.h"

namespace bitdial {

namespace {

using Rng = std::mt19937_64;

// Each set draws from its own stream so that growing one set never changes another.
enum class Stream : uint64_t { eval = 1, heldout = 2, calib = 3, train = 4 };

// SplitMix64 (Steele et al. 2014): spreads (seed, stream) over the whole 64-bit seed space.
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

Rng stream_rng(uint64_t seed, Stream stream) {
  return Rng(splitmix64(seed ^ splitmix64(static_cast<uint64_t>(stream))));
}

// Uniform integer in [0, n): draws below 2^64 mod n are rejected so every residue is equally likely.
uint64_t below(Rng& rng, uint64_t n) {
  BITDIAL_ASSERT(n > 0);
  const uint64_t reject_under = (0 - n) % n;  // == 2^64 mod n
  uint64_t x = rng();
  while (x < reject_under) x = rng();
  return x % n;
}

// Uniform double in [0, 1) from the top 53 bits: exact on every IEEE-754 machine.
double unit(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

bool chance(Rng& rng, double p) { return unit(rng) < p; }

template <class T>
const T& pick(Rng& rng, const std::vector<T>& v) {
  return v[below(rng, v.size())];
}

// Fisher-Yates with this file's range mapping.
template <class T>
void shuffle(Rng& rng, std::vector<T>& v) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(rng, i)]);
}

int64_t count_words(std::string_view s) {
  int64_t n = 0;
  bool in_word = false;
  for (char c : s) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char to_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                   "July",    "August",   "September", "October", "November", "December"};

// Fills the {slot}s of one ticket's templates. One filler per ticket: a slot named twice gets the
// same value, and "<slot>2" a value different from "<slot>" (when the list has another).
class SlotFiller {
 public:
  explicit SlotFiller(Rng& rng) : rng_(rng) {}

  std::string fill(std::string_view tmpl) {
    std::string out;
    size_t pos = 0;
    while (pos < tmpl.size()) {
      const size_t open = tmpl.find('{', pos);
      if (open == std::string_view::npos) break;
      const size_t close = tmpl.find('}', open);
      BITDIAL_ASSERT(close != std::string_view::npos);
      out.append(tmpl.substr(pos, open - pos));
      out += value(std::string(tmpl.substr(open + 1, close - open - 1)));
      pos = close + 1;
    }
    out.append(tmpl.substr(pos));
    return out;
  }

 private:
  std::string value(const std::string& slot) {
    if (const auto it = chosen_.find(slot); it != chosen_.end()) return it->second;
    const bool variant = slot.size() > 1 && slot.back() == '2';
    const std::string base = variant ? slot.substr(0, slot.size() - 1) : slot;
    std::string v;
    for (int attempt = 0; attempt < 16; ++attempt) {
      v = draw(base);
      if (!taken(base, v)) break;
    }
    chosen_[slot] = v;
    return v;
  }

  bool taken(const std::string& base, const std::string& v) const {
    for (const std::string& name : {base, base + "2"}) {
      const auto it = chosen_.find(name);
      if (it != chosen_.end() && it->second == v) return true;
    }
    return false;
  }

  std::string draw(const std::string& base) {
    char buf[32];
    if (base == "amount") {
      static const int kCents[] = {0, 49, 95, 99};
      const uint64_t dollars = 5 + below(rng_, 495);
      const uint64_t cents = chance(rng_, 0.5) ? static_cast<uint64_t>(kCents[below(rng_, 4)]) : below(rng_, 100);
      std::snprintf(buf, sizeof buf, "$%llu.%02llu", static_cast<unsigned long long>(dollars),
                    static_cast<unsigned long long>(cents));
    } else if (base == "order") {
      std::snprintf(buf, sizeof buf, "#%llu", static_cast<unsigned long long>(100000 + below(rng_, 900000)));
    } else if (base == "date") {
      std::snprintf(buf, sizeof buf, "%s %llu", kMonths[below(rng_, 12)], static_cast<unsigned long long>(1 + below(rng_, 28)));
    } else if (base == "days") {
      std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(2 + below(rng_, 20)));
    } else if (base == "minutes") {
      std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(15 + below(rng_, 76)));
    } else if (base == "years") {
      std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(2 + below(rng_, 12)));
    } else if (base == "last4") {
      std::snprintf(buf, sizeof buf, "%04llu", static_cast<unsigned long long>(below(rng_, 10000)));
    } else {
      const std::vector<std::string_view>* values = triage_slot_values(base);
      BITDIAL_ASSERT(values != nullptr && !values->empty());  // a template names an unknown slot
      return std::string(pick(rng_, *values));
    }
    return buf;
  }

  Rng& rng_;
  std::map<std::string, std::string> chosen_;
};

// QWERTY neighbours of each lowercase letter, for replacement typos.
const char* keyboard_neighbours(char lower) {
  static const char* const kRows[26] = {
      "qwsz", "vghn", "xdfv", "serfcx", "wsdr", "drtgvc", "ftyhbv", "gyujnb", "ujko", "huikmn", "jiolm", "kop",
      "njk",  "bhjm", "iklp", "ol",     "wa",   "edft",   "awedxz", "rfgy", "yhji", "cfgb",   "qase", "zsdc",
      "tghu", "asx"};
  return kRows[lower - 'a'];
}

// Swaps, drops, doubles or replaces letters, each letter edited with probability `rate`; makes at
// least one edit so a typo ticket never equals its clean source.
std::string add_typos(Rng& rng, const std::string& text, double rate) {
  std::string out;
  out.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (!is_letter(c) || !chance(rng, rate)) {
      out += c;
      continue;
    }
    switch (below(rng, 4)) {
      case 0:  // transpose with the next letter
        if (i + 1 < text.size() && is_letter(text[i + 1])) {
          out += text[i + 1];
          out += c;
          ++i;
        } else {
          out += c;
        }
        break;
      case 1: break;  // drop
      case 2: out.append(2, c); break;
      default: {
        const char* near = keyboard_neighbours(to_lower(c));
        const char r = near[below(rng, std::char_traits<char>::length(near))];
        out += c == to_lower(c) ? r : to_upper(r);
      }
    }
  }
  if (out == text) {
    std::vector<size_t> letters;
    for (size_t i = 0; i < text.size(); ++i)
      if (is_letter(text[i])) letters.push_back(i);
    BITDIAL_ASSERT(!letters.empty());
    const size_t at = pick(rng, letters);
    out = text.substr(0, at + 1) + text.substr(at);  // double one letter
  }
  return out;
}

// ALL CAPS or random case per letter; always differs from the input (which has letters).
std::string mix_case(Rng& rng, const std::string& text) {
  std::string out = text;
  const bool all_caps = chance(rng, 0.5);
  for (char& c : out) c = all_caps ? to_upper(c) : (chance(rng, 0.5) ? to_upper(c) : to_lower(c));
  if (out == text) {
    for (char& c : out)
      if (is_letter(c)) {
        c = c == to_upper(c) ? to_lower(c) : to_upper(c);
        break;
      }
  }
  return out;
}

// `count` distinct sentences of `pool`, filled, in random order.
std::vector<std::string> distinct_sentences(Rng& rng, SlotFiller& filler, const std::vector<std::string_view>& pool,
                                            size_t count) {
  std::vector<size_t> order(pool.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  shuffle(rng, order);
  std::vector<std::string> out;
  for (size_t i = 0; i < count && i < order.size(); ++i) out.push_back(filler.fill(pool[order[i]]));
  return out;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += ' ';
    out += p;
  }
  return out;
}

std::string clean_ticket(Rng& rng, SlotFiller& filler, const TriageIntentPhrases& intent) {
  std::vector<std::string> parts;
  if (chance(rng, 0.35)) parts.push_back(filler.fill(pick(rng, triage_openers())));
  parts.push_back(filler.fill(pick(rng, intent.templates)));
  if (chance(rng, 0.35)) parts.push_back(filler.fill(pick(rng, triage_closers())));
  return join(parts);
}

// Two or three context sentences, the request, one or two more; extra context until long enough.
std::string long_ticket(Rng& rng, SlotFiller& filler, const TriageIntentPhrases& intent) {
  const std::vector<std::string_view>& before_pool = triage_ramble_before();
  std::vector<std::string> before = distinct_sentences(rng, filler, before_pool, before_pool.size());
  const std::vector<std::string> after = distinct_sentences(rng, filler, triage_ramble_after(), 1 + below(rng, 2));
  const std::string ask = filler.fill(pick(rng, intent.templates));
  size_t n_before = 2 + below(rng, 2);
  const std::string opener = chance(rng, 0.3) ? filler.fill(pick(rng, triage_openers())) : "";
  const auto assemble = [&] {
    std::vector<std::string> parts;
    if (!opener.empty()) parts.push_back(opener);
    parts.insert(parts.end(), before.begin(), before.begin() + static_cast<std::ptrdiff_t>(n_before));
    parts.push_back(ask);
    parts.insert(parts.end(), after.begin(), after.end());
    return join(parts);
  };
  std::string text = assemble();
  while (count_words(text) < kTriageLongMinWords && n_before < before.size()) {
    ++n_before;
    text = assemble();
  }
  BITDIAL_ASSERT(count_words(text) >= kTriageLongMinWords);
  return text;
}

std::string make_ticket(Rng& rng, const TriageIntentPhrases& intent, TicketStyle style, const TriageOptions& opt) {
  SlotFiller filler(rng);
  switch (style) {
    case TicketStyle::clean: return clean_ticket(rng, filler, intent);
    case TicketStyle::short_input: {
      std::string text = filler.fill(pick(rng, intent.headlines));
      const int64_t words = count_words(text);
      BITDIAL_ASSERT(words >= 1 && words <= 4);  // a headline template or slot is too long
      return text;
    }
    case TicketStyle::typo: return add_typos(rng, clean_ticket(rng, filler, intent), opt.typo_rate);
    case TicketStyle::long_input: return long_ticket(rng, filler, intent);
    case TicketStyle::mixed_case: return mix_case(rng, clean_ticket(rng, filler, intent));
  }
  BITDIAL_ASSERT(false);
  return {};
}

struct Planned {
  size_t intent;  // index into triage_intent_phrases()
  TicketStyle style;
};

struct IntentGroups {
  std::vector<size_t> common, rare;
};

IntentGroups intent_groups() {
  IntentGroups g;
  const auto& intents = triage_intent_phrases();
  for (size_t i = 0; i < intents.size(); ++i) (intents[i].rare ? g.rare : g.common).push_back(i);
  BITDIAL_ASSERT(!g.common.empty() && !g.rare.empty());
  return g;
}

int64_t share_count(int64_t n, double share) { return static_cast<int64_t>(std::llround(static_cast<double>(n) * share)); }

// Exact counts of rare intents and of each style, intents taken in turn within each group, then the
// intent list and the style list shuffled independently.
std::vector<Planned> plan_text_set(Rng& rng, int64_t n, const TriageOptions& opt) {
  const IntentGroups g = intent_groups();
  const int64_t n_rare = share_count(n, opt.rare_share);
  std::vector<size_t> intents;
  for (int64_t i = 0; i < n; ++i)
    intents.push_back(i < n_rare ? g.rare[static_cast<size_t>(i) % g.rare.size()]
                                 : g.common[static_cast<size_t>(i - n_rare) % g.common.size()]);
  std::vector<TicketStyle> styles;
  const std::pair<TicketStyle, double> shares[] = {{TicketStyle::short_input, opt.short_share},
                                                   {TicketStyle::typo, opt.typo_share},
                                                   {TicketStyle::long_input, opt.long_share},
                                                   {TicketStyle::mixed_case, opt.mixed_case_share}};
  for (const auto& [style, share] : shares)
    for (int64_t i = share_count(n, share); i > 0 && static_cast<int64_t>(styles.size()) < n; --i) styles.push_back(style);
  while (static_cast<int64_t>(styles.size()) < n) styles.push_back(TicketStyle::clean);
  shuffle(rng, intents);
  shuffle(rng, styles);
  std::vector<Planned> plan;
  for (int64_t i = 0; i < n; ++i) plan.push_back({intents[static_cast<size_t>(i)], styles[static_cast<size_t>(i)]});
  return plan;
}

std::vector<Planned> plan_eval_set(Rng& rng, const TriageOptions& opt) {
  const IntentGroups g = intent_groups();
  std::vector<Planned> plan;
  for (int s = 0; s < kTicketStyleCount; ++s)
    for (int64_t i = 0; i < opt.eval_per_style; ++i)
      plan.push_back({g.common[static_cast<size_t>(i) % g.common.size()], static_cast<TicketStyle>(s)});
  for (int64_t i = 0; i < opt.eval_rare; ++i)
    plan.push_back({g.rare[static_cast<size_t>(i) % g.rare.size()], static_cast<TicketStyle>(i % kTicketStyleCount)});
  shuffle(rng, plan);
  return plan;
}

constexpr int kMaxTriesPerExample = 1000;

// Renders a plan, redrawing any text in `used` (texts of earlier sets, and of this set when
// unique_within). Adds the new texts to `used` afterwards.
std::vector<TriageExample> render_set(Rng& rng, const std::vector<Planned>& plan, const TriageOptions& opt,
                                      std::unordered_set<std::string>& used, bool unique_within, const char* set_name,
                                      bool eval_ids) {
  const auto& intents = triage_intent_phrases();
  std::vector<TriageExample> out;
  std::unordered_set<std::string> mine;
  for (size_t k = 0; k < plan.size(); ++k) {
    const TriageIntentPhrases& intent = intents[plan[k].intent];
    std::string text;
    for (int attempt = 0;; ++attempt) {
      if (attempt == kMaxTriesPerExample)
        fail("triage data: the ", set_name, " set cannot find a new ", ticket_style_tag(plan[k].style), " '", intent.label,
             "' ticket after ", kMaxTriesPerExample, " tries (example ", k + 1,
             "); ask for fewer examples than the phrase tables can make");
      text = make_ticket(rng, intent, plan[k].style, opt);
      if (used.count(text) == 0 && !(unique_within && mine.count(text) != 0)) break;
    }
    mine.insert(text);
    TriageExample ex;
    char id[32];
    if (eval_ids) std::snprintf(id, sizeof id, "t%04zu", k + 1);
    else std::snprintf(id, sizeof id, "%s-%zu", set_name, k + 1);
    ex.id = id;
    ex.text = std::move(text);
    ex.label = std::string(intent.label);
    ex.style = plan[k].style;
    ex.rare = intent.rare;
    out.push_back(std::move(ex));
  }
  used.insert(mine.begin(), mine.end());
  return out;
}

}  // namespace

const char* ticket_style_tag(TicketStyle style) {
  switch (style) {
    case TicketStyle::clean: return "clean";
    case TicketStyle::short_input: return "short";
    case TicketStyle::typo: return "typo";
    case TicketStyle::long_input: return "long";
    case TicketStyle::mixed_case: return "mixed_case";
  }
  return "?";
}

std::vector<std::string> TriageExample::tags() const {
  std::vector<std::string> t{ticket_style_tag(style)};
  if (rare) t.emplace_back(kTriageRareTag);
  return t;
}

void validate_triage_options(const TriageOptions& o) {
  const std::pair<const char*, int64_t> counts[] = {{"train_examples", o.train_examples},
                                                    {"heldout_examples", o.heldout_examples},
                                                    {"calib_examples", o.calib_examples},
                                                    {"eval_per_style", o.eval_per_style},
                                                    {"eval_rare", o.eval_rare}};
  for (const auto& [name, n] : counts)
    if (n < 0) fail("triage data: ", name, " is ", n, "; must be >= 0");
  if (o.eval_per_style == 0) fail("triage data: eval_per_style is 0; every style needs eval examples");
  const std::pair<const char*, double> shares[] = {{"rare_share", o.rare_share},   {"short_share", o.short_share},
                                                   {"typo_share", o.typo_share},   {"long_share", o.long_share},
                                                   {"mixed_case_share", o.mixed_case_share}, {"typo_rate", o.typo_rate}};
  for (const auto& [name, v] : shares)
    if (!(v >= 0.0 && v <= 1.0)) fail("triage data: ", name, " is ", v, "; must be in [0, 1]");
  const double styled = o.short_share + o.typo_share + o.long_share + o.mixed_case_share;
  if (styled > 1.0) fail("triage data: the style shares sum to ", styled, "; must be <= 1");
}

TriageDataset generate_triage(const TriageOptions& options) {
  validate_triage_options(options);
  TriageDataset d;
  d.options = options;
  for (const TriageIntentPhrases& intent : triage_intent_phrases()) {
    d.labels.emplace_back(intent.label);
    if (intent.rare) d.rare_labels.emplace_back(intent.label);
  }
  std::unordered_set<std::string> used;
  Rng eval_rng = stream_rng(options.seed, Stream::eval);
  d.eval = render_set(eval_rng, plan_eval_set(eval_rng, options), options, used, true, "eval", true);
  Rng heldout_rng = stream_rng(options.seed, Stream::heldout);
  d.heldout = render_set(heldout_rng, plan_text_set(heldout_rng, options.heldout_examples, options), options, used, false,
                         "heldout", false);
  Rng calib_rng = stream_rng(options.seed, Stream::calib);
  d.calib = render_set(calib_rng, plan_text_set(calib_rng, options.calib_examples, options), options, used, false, "calib",
                       false);
  Rng train_rng = stream_rng(options.seed, Stream::train);
  d.train = render_set(train_rng, plan_text_set(train_rng, options.train_examples, options), options, used, false, "train",
                       false);
  return d;
}

std::string render_triage_text(const std::vector<TriageExample>& examples) {
  std::string out;
  for (const TriageExample& ex : examples) {
    out += "Ticket: ";
    out += ex.text;
    out += "\nIntent: ";
    out += ex.label;
    out += "\n\n";
  }
  return out;
}

std::string render_triage_tasks(const TriageDataset& d) {
  using ordered_json = nlohmann::ordered_json;
  ordered_json header;
  header["task"]["name"] = kTriageTaskName;
  header["task"]["template"] = kTriagePromptTemplate;
  header["task"]["choice_prefix"] = kTriageChoicePrefix;
  std::string out = header.dump() + "\n";
  for (const TriageExample& ex : d.eval) {
    ordered_json j;
    j["id"] = ex.id;
    j["input"] = ex.text;
    j["choices"] = d.labels;
    j["label"] = ex.label;
    j["tags"] = ex.tags();
    out += j.dump() + "\n";
  }
  return out;
}

void write_triage_files(const TriageDataset& d, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(dir, ": cannot create the triage data folder: ", ec.message());
  const auto path = [&dir](std::string_view name) { return dir + "/" + std::string(name); };
  write_file_atomic(path(kTriageTrainFile), render_triage_text(d.train));
  write_file_atomic(path(kTriageTaskFile), render_triage_tasks(d));
  write_file_atomic(path(kTriageHeldoutFile), render_triage_text(d.heldout));
  write_file_atomic(path(kTriageCalibFile), render_triage_text(d.calib));
}

}  // namespace bitdial
