#include "core/yaml_fields.h"

#include <algorithm>

#include "core/error.h"

namespace bitdial {

namespace fs = std::filesystem;

std::string yaml_where(const std::string& file, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? concat(file, ":", m.line + 1) : file;
}

void YamlFields::bad(const YAML::Node& n, const std::string& what) const { fail(yaml_where(file, n), ": ", what); }

void YamlFields::keys(const YAML::Node& map, const std::string& what, std::initializer_list<const char*> allowed) const {
  if (!map.IsMap()) bad(map, what + " must be a mapping");
  for (const auto& kv : map) {
    const std::string k = kv.first.as<std::string>();
    if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; }) == allowed.end()) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      bad(kv.first, "unknown key '" + k + "' in " + what + " (allowed: " + list + ")");
    }
  }
}

std::string YamlFields::str(const YAML::Node& n, const std::string& key) const {
  if (!n.IsScalar()) bad(n, "'" + key + "' must be a string");
  return n.as<std::string>();
}

double YamlFields::num(const YAML::Node& n, const std::string& key) const {
  if (!n.IsScalar()) bad(n, "'" + key + "' must be a number");
  try {
    return n.as<double>();
  } catch (const YAML::Exception&) {
    bad(n, "'" + key + "' must be a number, not '" + n.as<std::string>() + "'");
  }
}

int64_t YamlFields::integer(const YAML::Node& n, const std::string& key, int64_t lo) const {
  if (!n.IsScalar()) bad(n, "'" + key + "' must be an integer");
  int64_t v = 0;
  try {
    v = n.as<int64_t>();
  } catch (const YAML::Exception&) {
    bad(n, "'" + key + "' must be an integer, not '" + n.as<std::string>() + "'");
  }
  if (v < lo) bad(n, concat("'", key, "' must be >= ", lo, ", not ", v));
  return v;
}

bool YamlFields::boolean(const YAML::Node& n, const std::string& key) const {
  try {
    return n.as<bool>();
  } catch (const YAML::Exception&) {
    bad(n, "'" + key + "' must be true or false");
  }
}

std::string YamlFields::existing(const YAML::Node& n, const std::string& key) const {
  const std::string s = str(n, key);
  if (s.empty()) bad(n, "'" + key + "' is empty");
  fs::path p(s);
  if (p.is_relative()) p = dir / p;
  if (!fs::exists(p)) bad(n, "'" + key + "': " + p.string() + " does not exist");
  return fs::absolute(p).lexically_normal().string();
}

std::vector<std::string> YamlFields::strings(const YAML::Node& n, const std::string& key) const {
  std::vector<std::string> v;
  if (n.IsScalar()) return {n.as<std::string>()};
  if (!n.IsSequence()) bad(n, "'" + key + "' must be a string or a list of strings");
  for (const auto& e : n) v.push_back(str(e, key));
  return v;
}

}  // namespace bitdial
