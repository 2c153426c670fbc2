// report.html: the sweep's results.json rendered as one self-contained page for people deciding whether
// to ship a quantized model. Inline CSS and inline SVG only: no scripts, fonts or URLs, so the file reads
// the same offline, attached to a ticket, or printed.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace bitdial {

// The whole HTML document. Deterministic: the same results give the same bytes (the only time shown is
// results' created_utc). Every string from the results (names, floor texts, paths) is escaped.
std::string render_report_html(const nlohmann::ordered_json& results);

}  // namespace bitdial
