#include "quant/budget_table.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/tensor_type.h"

namespace bitdial {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

json key_json(const BudgetTableKey& k) {
  return json{{"model", k.model},       {"calib", k.calib},           {"n_ctx", k.n_ctx},
              {"n_chunks", k.n_chunks}, {"imatrix", k.imatrix},       {"grouping", k.grouping},
              {"candidates", k.candidates}, {"positions", k.positions}};
}

}  // namespace

std::string file_identity(const std::string& path) {
  if (path.empty()) return "";
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return path + " (" + (ec ? std::string("?") : std::to_string(size)) + " bytes)";
}

void save_budget_table(const std::string& path, const BudgetTableKey& key, const std::vector<BudgetGroup>& table) {
  json groups = json::array();
  for (const BudgetGroup& g : table) {
    json opts = json::array();
    for (const BudgetOption& o : g.options) opts.push_back({{"type", type_name(o.type)}, {"bytes", o.bytes}, {"damage", o.damage}});
    groups.push_back({{"name", g.name}, {"tensors", g.tensors}, {"options", opts}});
  }
  const json doc{{"format", "bitdial budget table 1"}, {"key", key_json(key)}, {"groups", groups}};
  write_file_atomic(path, doc.dump(1) + "\n");
}

std::optional<std::vector<BudgetGroup>> load_budget_table(const std::string& path, const BudgetTableKey& key) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  json doc;
  try {
    doc = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    fail(path, ": not a budget table: JSON error at byte ", e.byte);
  }
  try {
    if (doc.at("format") != "bitdial budget table 1") fail(path, ": not a bitdial budget table (format key)");
    if (doc.at("key") != key_json(key)) return std::nullopt;  // measured for other inputs: measure again
    std::vector<BudgetGroup> table;
    for (const json& g : doc.at("groups")) {
      BudgetGroup grp;
      grp.name = g.at("name").get<std::string>();
      grp.tensors = g.at("tensors").get<std::vector<std::string>>();
      for (const json& o : g.at("options")) {
        const std::string tn = o.at("type").get<std::string>();
        const std::optional<TensorType> t = type_from_name(tn);
        if (!t) fail(path, ": group '", grp.name, "': unknown type '", tn, "'");
        grp.options.push_back(BudgetOption{*t, o.at("bytes").get<uint64_t>(), o.at("damage").get<double>()});
      }
      table.push_back(std::move(grp));
    }
    return table;
  } catch (const json::exception& e) {
    fail(path, ": malformed budget table: ", e.what());
  }
}

}  // namespace bitdial
