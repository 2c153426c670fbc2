#include "decide/hardware_catalog.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/atomic_file.h"
#include "core/error.h"

namespace bitdial {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// "SOURCE:LINE:COL" of a node (yaml-cpp marks are 0-based).
std::string where(const std::string& source, const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  if (m.is_null()) return source;
  return concat(source, ":", m.line + 1, ":", m.column + 1);
}

double number(const std::string& source, const std::string& key, const YAML::Node& v) {
  if (!v.IsScalar()) fail(where(source, v), ": ", key, " must be a number");
  double x = 0;
  try {
    x = v.as<double>();
  } catch (const YAML::Exception&) {
    fail(where(source, v), ": ", key, " must be a number, not '", v.Scalar(), "'");
  }
  if (!std::isfinite(x)) fail(where(source, v), ": ", key, " must be finite");
  if (x < 0) fail(where(source, v), ": ", key, " ", v.Scalar(), " is negative");
  return x;
}

// Efficiencies are shares of a roofline: (0, 1].
double efficiency(const std::string& source, const std::string& key, const YAML::Node& v) {
  const double x = number(source, key, v);
  if (x <= 0 || x > 1) fail(where(source, v), ": ", key, " ", v.Scalar(), " is not in (0, 1]");
  return x;
}

std::string text(const std::string& source, const std::string& key, const YAML::Node& v) {
  if (!v.IsScalar()) fail(where(source, v), ": ", key, " must be a string");
  return v.Scalar();
}

bool boolean(const std::string& source, const std::string& key, const YAML::Node& v) {
  try {
    return v.as<bool>();
  } catch (const YAML::Exception&) {
    fail(where(source, v), ": ", key, " must be true or false");
  }
}

HardwarePatch parse_row(const std::string& source, const YAML::Node& row) {
  if (!row.IsMap()) fail(where(source, row), ": a hardware row must be a mapping with a name");
  HardwarePatch p;
  bool named = false;
  for (const auto& kv : row) {
    const std::string key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (key == "name") p.name = text(source, key, v), named = true;
    else if (key == "class") p.hw_class = text(source, key, v);
    else if (key == "measured") p.measured = boolean(source, key, v);
    else if (key == "memory_gb") p.memory_gb = number(source, key, v);
    else if (key == "bandwidth_gb_s") p.bandwidth_gb_s = number(source, key, v);
    else if (key == "tflops_fp16") p.tflops_fp16 = number(source, key, v);
    else if (key == "tops_int8") p.tops_int8 = number(source, key, v);
    else if (key == "dollars_per_hour") p.dollars_per_hour = number(source, key, v);
    else if (key == "decode_efficiency") p.decode_efficiency = efficiency(source, key, v);
    else if (key == "prefill_efficiency") p.prefill_efficiency = efficiency(source, key, v);
    else if (key == "note") p.note = text(source, key, v);
    else
      fail(where(source, kv.first), ": unknown key '", key,
           "' in a hardware row (known: name, class, measured, memory_gb, bandwidth_gb_s, tflops_fp16, tops_int8, "
           "dollars_per_hour, decode_efficiency, prefill_efficiency, note)");
  }
  if (!named || p.name.empty()) fail(where(source, row), ": hardware row without a name");
  return p;
}

}  // namespace

uint64_t HardwareSpec::memory_bytes() const { return static_cast<uint64_t>(std::llround(memory_gb * 1073741824.0)); }

const HardwareSpec* HardwareCatalog::find(std::string_view name) const {
  for (const HardwareSpec& h : rows_)
    if (h.name == name) return &h;
  for (const HardwareSpec& h : rows_)
    if (iequals(h.name, name)) return &h;
  return nullptr;
}

const HardwareSpec& HardwareCatalog::get(std::string_view name) const {
  if (const HardwareSpec* h = find(name)) return *h;
  std::string known;
  for (const HardwareSpec& h : rows_) known += (known.empty() ? "" : ", ") + h.name;
  fail("unknown hardware '", name, "' (known: ", known, ")");
}

const HardwareCatalog::ClassDefaults* HardwareCatalog::class_defaults(std::string_view name) const {
  for (const ClassDefaults& c : classes_)
    if (c.name == name) return &c;
  return nullptr;
}

void HardwareCatalog::apply(const HardwarePatch& p, const std::string& where) {
  if (p.name.empty()) fail(where, ": hardware row without a name");
  auto positive = [&](const char* key, const std::optional<double>& v) {
    if (v && !(*v > 0)) fail(where, ": ", key, " of '", p.name, "' must be > 0");
  };
  positive("memory_gb", p.memory_gb);
  positive("bandwidth_gb_s", p.bandwidth_gb_s);
  positive("tflops_fp16", p.tflops_fp16);
  positive("tops_int8", p.tops_int8);
  if (p.dollars_per_hour && !(*p.dollars_per_hour >= 0)) fail(where, ": dollars_per_hour of '", p.name, "' is negative");
  for (const auto& e : {p.decode_efficiency, p.prefill_efficiency})
    if (e && !(*e > 0 && *e <= 1)) fail(where, ": efficiency of '", p.name, "' is not in (0, 1]");

  size_t i = 0;
  while (i < rows_.size() && rows_[i].name != p.name) ++i;
  const std::string cls_name = p.hw_class ? *p.hw_class : i < rows_.size() ? rows_[i].hw_class : "gpu";
  const ClassDefaults* cls = class_defaults(cls_name);
  if (!cls) {
    std::string known;
    for (const ClassDefaults& c : classes_) known += (known.empty() ? "" : ", ") + c.name;
    fail(where, ": unknown class '", cls_name, "' for '", p.name, "' (known: ", known, ")");
  }
  if (i == rows_.size()) {  // a new row: every number is required
    const char* missing = !p.memory_gb ? "memory_gb" : !p.bandwidth_gb_s ? "bandwidth_gb_s" : !p.tflops_fp16 ? "tflops_fp16"
                          : !p.tops_int8 ? "tops_int8" : !p.dollars_per_hour ? "dollars_per_hour" : nullptr;
    if (missing) fail(where, ": new hardware '", p.name, "' needs ", missing);
    HardwareSpec h;
    h.name = p.name;
    h.hw_class = "gpu";
    rows_.push_back(h);
    own_decode_.push_back(false);
    own_prefill_.push_back(false);
  }
  HardwareSpec& h = rows_[i];
  h.hw_class = cls_name;
  if (p.measured) h.measured = *p.measured;
  if (p.memory_gb) h.memory_gb = *p.memory_gb;
  if (p.bandwidth_gb_s) h.bandwidth_gb_s = *p.bandwidth_gb_s;
  if (p.tflops_fp16) h.tflops_fp16 = *p.tflops_fp16;
  if (p.tops_int8) h.tops_int8 = *p.tops_int8;
  if (p.dollars_per_hour) h.dollars_per_hour = *p.dollars_per_hour;
  if (p.note) h.note = *p.note;
  if (p.decode_efficiency) h.decode_efficiency = *p.decode_efficiency, own_decode_[i] = true;
  if (p.prefill_efficiency) h.prefill_efficiency = *p.prefill_efficiency, own_prefill_[i] = true;
  if (!own_decode_[i]) h.decode_efficiency = cls->decode_efficiency;
  if (!own_prefill_[i]) h.prefill_efficiency = cls->prefill_efficiency;
}

void HardwareCatalog::merge_yaml(std::string_view yaml_text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    fail(source, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg);
  }
  if (root.IsNull()) return;  // an empty file changes nothing
  if (!root.IsMap()) fail(where(source, root), ": a hardware catalogue is a mapping with 'classes' and/or 'hardware'");
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (key != "classes" && key != "hardware")
      fail(where(source, kv.first), ": unknown key '", key, "' (known: classes, hardware)");
  }
  if (const YAML::Node classes = root["classes"]) {
    if (!classes.IsMap()) fail(where(source, classes), ": classes must map a class name to its efficiencies");
    for (const auto& kv : classes) {
      const std::string name = kv.first.Scalar();
      const YAML::Node& c = kv.second;
      if (!c.IsMap()) fail(where(source, c), ": class '", name, "' must be a mapping");
      auto it = std::find_if(classes_.begin(), classes_.end(), [&](const ClassDefaults& c) { return c.name == name; });
      if (it == classes_.end()) it = classes_.insert(classes_.end(), ClassDefaults{name, 0, 0});
      ClassDefaults* d = &*it;
      bool has_decode = d->decode_efficiency > 0, has_prefill = d->prefill_efficiency > 0;
      for (const auto& f : c) {
        const std::string k = f.first.Scalar();
        if (k == "decode_efficiency") d->decode_efficiency = efficiency(source, k, f.second), has_decode = true;
        else if (k == "prefill_efficiency") d->prefill_efficiency = efficiency(source, k, f.second), has_prefill = true;
        else fail(where(source, f.first), ": unknown key '", k, "' in class '", name, "' (known: decode_efficiency, prefill_efficiency)");
      }
      if (!has_decode || !has_prefill)
        fail(where(source, c), ": new class '", name, "' needs decode_efficiency and prefill_efficiency");
    }
    // Rows that follow their class pick up the new defaults.
    for (size_t i = 0; i < rows_.size(); ++i) {
      const ClassDefaults* cls = class_defaults(rows_[i].hw_class);
      if (!cls) continue;
      if (!own_decode_[i]) rows_[i].decode_efficiency = cls->decode_efficiency;
      if (!own_prefill_[i]) rows_[i].prefill_efficiency = cls->prefill_efficiency;
    }
  }
  if (const YAML::Node hardware = root["hardware"]) {
    if (!hardware.IsSequence()) fail(where(source, hardware), ": hardware must be a list of rows");
    for (const YAML::Node& row : hardware) apply(parse_row(source, row), where(source, row));
  }
}

void HardwareCatalog::merge_file(const std::string& path) { merge_yaml(read_file(path), path); }

HardwareCatalog load_hardware_catalog(const std::string& user_file) {
  HardwareCatalog c;
  c.merge_yaml(builtin_hardware_yaml(), "data/hardware.yaml");
  if (!user_file.empty()) c.merge_file(user_file);
  return c;
}

nlohmann::ordered_json hardware_json(const HardwareSpec& h) {
  return {{"name", h.name},
          {"memory_gb", h.memory_gb},
          {"bandwidth_gb_s", h.bandwidth_gb_s},
          {"tflops_fp16", h.tflops_fp16},
          {"tops_int8", h.tops_int8},
          {"dollars_per_hour", h.dollars_per_hour},
          {"class", h.hw_class},
          {"measured", h.measured},
          {"decode_efficiency", h.decode_efficiency},
          {"prefill_efficiency", h.prefill_efficiency}};
}

}  // namespace bitdial
