#include "serve/status.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "serve/event_db.h"

namespace bitdial::serve {
namespace {

using Json = nlohmann::ordered_json;

// Everything counted for one (route, backend) pair.
struct Group {
  int64_t requests = 0, errors = 0, escalated = 0;
  std::vector<double> latencies_ms;  // status-200 requests only
  double ttft_ms_sum = 0, total_ms_sum = 0;
  int64_t completion_tokens = 0;
  int64_t feedback = 0, overridden = 0;
  int64_t shadow = 0, shadow_errors = 0, agree = 0;
};

std::string iso_utc(double unix_s) {
  const auto t = static_cast<std::time_t>(std::floor(unix_s));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Nearest rank: the ceil(q*n)-th smallest of `sorted` (non-empty, ascending).
double percentile(const std::vector<double>& sorted, double q) {
  const auto n = static_cast<double>(sorted.size());
  const auto rank = static_cast<size_t>(std::max(1.0, std::ceil(q * n - 1e-9)));
  return sorted[std::min(rank, sorted.size()) - 1];
}

Json ratio(int64_t num, int64_t den) { return den > 0 ? Json(static_cast<double>(num) / den) : Json(nullptr); }

Json group_json(const std::string& route, const std::string& backend, Group& g) {
  std::sort(g.latencies_ms.begin(), g.latencies_ms.end());
  const auto ok = static_cast<int64_t>(g.latencies_ms.size());
  Json latency = Json::object();
  for (const auto& [name, q] : {std::pair{"p50", 0.50}, {"p95", 0.95}, {"p99", 0.99}}) {
    latency[name] = ok > 0 ? Json(percentile(g.latencies_ms, q)) : Json(nullptr);
  }
  Json j = Json::object();
  j["route"] = route;
  j["backend"] = backend;
  j["requests"] = g.requests;
  j["errors"] = g.errors;
  j["escalation_rate"] = ratio(g.escalated, g.requests);
  j["latency_ms"] = latency;
  j["mean_ttft_ms"] = ok > 0 ? Json(g.ttft_ms_sum / static_cast<double>(ok)) : Json(nullptr);
  j["completion_tokens_per_s"] =
      g.total_ms_sum > 0 ? Json(static_cast<double>(g.completion_tokens) / (g.total_ms_sum / 1000.0)) : Json(nullptr);
  j["feedback"] = g.feedback;
  j["override_rate"] = ratio(g.overridden, g.feedback);
  j["shadow_samples"] = g.shadow;
  j["shadow_errors"] = g.shadow_errors;
  j["shadow_agreement"] = ratio(g.agree, g.shadow - g.shadow_errors);
  return j;
}

Json totals_json(const SqliteDb& db) {
  Json t = Json::object();
  t["requests"] = db.query_int("SELECT count(*) FROM requests");
  t["errors"] = db.query_int("SELECT count(*) FROM requests WHERE status != 200");
  t["feedback"] = db.query_int("SELECT count(*) FROM feedback");
  t["feedback_unmatched"] = db.query_int(
      "SELECT count(*) FROM feedback WHERE request_id NOT IN (SELECT request_id FROM requests)");
  t["shadow"] = db.query_int("SELECT count(*) FROM shadow");
  t["rollbacks"] = db.query_int("SELECT count(*) FROM rollbacks");
  SqliteStmt span(db, "SELECT min(time), max(time) FROM requests");
  if (span.step() && !span.is_null(0)) {
    t["first"] = iso_utc(span.col_real(0));
    t["last"] = iso_utc(span.col_real(1));
    t["span_s"] = span.col_real(1) - span.col_real(0);
  } else {
    t["first"] = nullptr;
    t["last"] = nullptr;
    t["span_s"] = nullptr;
  }
  return t;
}

Json groups_json(const SqliteDb& db) {
  std::map<std::pair<std::string, std::string>, Group> groups;
  SqliteStmt req(db,
                 "SELECT route, backend, status, escalated, ttft_ms, total_ms, n_completion_tokens FROM requests");
  while (req.step()) {
    Group& g = groups[{req.col_text(0), req.col_text(1)}];
    ++g.requests;
    g.escalated += req.col_int(3) != 0;
    if (req.col_int(2) != 200) {
      ++g.errors;
      continue;
    }
    g.ttft_ms_sum += req.col_real(4);
    g.latencies_ms.push_back(req.col_real(5));
    g.total_ms_sum += req.col_real(5);
    g.completion_tokens += req.col_int(6);
  }
  // Feedback belongs to the latest request recorded under its id (an id recorded twice counts once).
  SqliteStmt fb(db,
                "SELECT r.route, r.backend, f.overridden FROM feedback f JOIN requests r ON r.id = "
                "(SELECT max(id) FROM requests WHERE request_id = f.request_id)");
  while (fb.step()) {
    Group& g = groups[{fb.col_text(0), fb.col_text(1)}];
    ++g.feedback;
    g.overridden += fb.col_int(2) != 0;
  }
  SqliteStmt sh(db, "SELECT route, primary_backend, agree, error != '' FROM shadow");
  while (sh.step()) {
    Group& g = groups[{sh.col_text(0), sh.col_text(1)}];
    ++g.shadow;
    if (sh.col_int(3) != 0) {
      ++g.shadow_errors;
    } else {
      g.agree += sh.col_int(2) != 0;
    }
  }
  Json out = Json::array();
  for (auto& [key, g] : groups) out.push_back(group_json(key.first, key.second, g));
  return out;
}

Json route_states_json(const SqliteDb& db) {
  Json out = Json::array();
  SqliteStmt q(db, "SELECT route, rolled_back, time, reason FROM route_state ORDER BY route");
  while (q.step()) {
    Json j = Json::object();
    j["route"] = q.col_text(0);
    j["rolled_back"] = q.col_int(1) != 0;
    j["since"] = iso_utc(q.col_real(2));
    j["reason"] = q.col_text(3);
    out.push_back(std::move(j));
  }
  return out;
}

Json rollbacks_json(const SqliteDb& db) {
  Json out = Json::array();
  SqliteStmt q(db,
               "SELECT time, route, action, metric, value, bound, n, window_size, evidence FROM rollbacks "
               "ORDER BY time, id");
  while (q.step()) {
    Json j = Json::object();
    j["time"] = iso_utc(q.col_real(0));
    j["route"] = q.col_text(1);
    j["action"] = q.col_text(2);
    j["metric"] = q.col_text(3);
    j["value"] = q.col_real(4);
    j["bound"] = q.col_real(5);
    j["n"] = q.col_int(6);
    j["window"] = q.col_int(7);
    // Evidence is JSON text written by the monitor; kept as a string if it does not parse.
    const std::string evidence = q.col_text(8);
    Json parsed = Json::parse(evidence, nullptr, /*allow_exceptions=*/false);
    j["evidence"] = parsed.is_discarded() ? Json(evidence) : parsed;
    out.push_back(std::move(j));
  }
  return out;
}

// ---- text rendering ----

std::string fixed(const Json& v, int decimals, double scale = 1.0) {
  if (v.is_null()) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v.get<double>() * scale);
  return buf;
}

std::string text(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// Left-aligns the first `n_left` columns and right-aligns the rest (numbers), two spaces apart.
std::string table(const std::vector<std::vector<std::string>>& rows, size_t n_left) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::ostringstream os;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      const std::string pad(width[c] - row[c].size(), ' ');
      if (c > 0) line += "  ";
      line += c < n_left ? row[c] + pad : pad + row[c];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    os << "  " << line << '\n';
  }
  return os.str();
}

}  // namespace

Json summarize_events_json(const std::string& db_path) {
  const SqliteDb db(db_path, SqliteDb::Mode::read_only);
  // One read transaction: every figure comes from the same snapshot even while the server writes.
  db.exec("BEGIN");
  Json j = Json::object();
  j["path"] = db_path;
  j["totals"] = totals_json(db);
  j["routes"] = groups_json(db);
  j["route_states"] = route_states_json(db);
  j["rollbacks"] = rollbacks_json(db);
  db.exec("COMMIT");
  return j;
}

std::string render_events_summary(const Json& s) {
  std::ostringstream os;
  const Json& t = s["totals"];
  os << "event store " << text(s["path"]) << "\n";
  os << "  requests " << t["requests"].get<int64_t>() << ", errors " << t["errors"].get<int64_t>() << ", feedback "
     << t["feedback"].get<int64_t>() << " (" << t["feedback_unmatched"].get<int64_t>() << " unmatched), shadow "
     << t["shadow"].get<int64_t>() << ", rollbacks " << t["rollbacks"].get<int64_t>() << "\n";
  if (!t["first"].is_null()) {
    os << "  from " << text(t["first"]) << " to " << text(t["last"]) << " (" << fixed(t["span_s"], 0) << " s)\n";
  }

  os << "\nper route and backend (latency, TTFT and tok/s over status-200 requests):\n";
  std::vector<std::vector<std::string>> rows = {{"route", "backend", "requests", "errors", "escalated%", "p50_ms",
                                                 "p95_ms", "p99_ms", "ttft_ms", "tok/s", "feedback", "override%",
                                                 "shadow", "agree%"}};
  for (const Json& r : s["routes"]) {
    const Json& lat = r["latency_ms"];
    rows.push_back({text(r["route"]), r["backend"].get<std::string>().empty() ? "(none)" : text(r["backend"]),
                    text(r["requests"]), text(r["errors"]), fixed(r["escalation_rate"], 1, 100), fixed(lat["p50"], 1),
                    fixed(lat["p95"], 1), fixed(lat["p99"], 1), fixed(r["mean_ttft_ms"], 1),
                    fixed(r["completion_tokens_per_s"], 1), text(r["feedback"]), fixed(r["override_rate"], 1, 100),
                    text(r["shadow_samples"]), fixed(r["shadow_agreement"], 1, 100)});
  }
  if (rows.size() == 1) {
    os << "  (no requests)\n";
  } else {
    os << table(rows, 2);
  }

  os << "\nroute states:\n";
  if (s["route_states"].empty()) os << "  (none recorded: every route serves its primary)\n";
  for (const Json& r : s["route_states"]) {
    os << "  " << text(r["route"]) << ": " << (r["rolled_back"].get<bool>() ? "ROLLED BACK" : "serving primary")
       << " since " << text(r["since"]) << (r["reason"].get<std::string>().empty() ? "" : " (" + text(r["reason"]) + ")")
       << "\n";
  }

  os << "\nrollback events:\n";
  if (s["rollbacks"].empty()) os << "  (none)\n";
  for (const Json& r : s["rollbacks"]) {
    os << "  " << text(r["time"]) << "  " << text(r["route"]) << "  " << text(r["action"]) << ": "
       << text(r["metric"]) << " " << fixed(r["value"], 4) << " vs bound " << fixed(r["bound"], 4) << " (n "
       << r["n"].get<int64_t>() << " of window " << r["window"].get<int64_t>() << ")\n";
    os << "    evidence: " << (r["evidence"].is_string() ? r["evidence"].get<std::string>() : r["evidence"].dump())
       << "\n";
  }
  return os.str();
}

std::string summarize_events(const std::string& db_path) { return render_events_summary(summarize_events_json(db_path)); }

}  // namespace bitdial::serve
