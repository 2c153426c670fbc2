// Typed reads of YAML config fields (yaml-cpp) whose errors name the file, the line and the key:
// every config bitdial reads (sweep, serve, hardware catalogue overrides) reports mistakes the same way.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

namespace bitdial {

// "sweep.yaml:12" for a node (yaml-cpp lines are 0-based; the text is 1-based).
std::string yaml_where(const std::string& file, const YAML::Node& n);

struct YamlFields {
  std::string file;
  std::filesystem::path dir;  // relative paths in the config are relative to this

  [[noreturn]] void bad(const YAML::Node& n, const std::string& what) const;
  // Fails on a key of `map` outside `allowed` (typos are errors, not silently ignored settings).
  void keys(const YAML::Node& map, const std::string& what, std::initializer_list<const char*> allowed) const;
  std::string str(const YAML::Node& n, const std::string& key) const;
  double num(const YAML::Node& n, const std::string& key) const;
  int64_t integer(const YAML::Node& n, const std::string& key, int64_t lo) const;
  bool boolean(const YAML::Node& n, const std::string& key) const;
  // A path relative to the config's folder that must exist, returned absolute so outputs written
  // from it (serve.yaml, results.json) stay valid from any working directory.
  std::string existing(const YAML::Node& n, const std::string& key) const;
  // A string or a list of strings.
  std::vector<std::string> strings(const YAML::Node& n, const std::string& key) const;
};

}  // namespace bitdial
