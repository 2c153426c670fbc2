// decision.md: the sweep's decision written as a record a team reviews and keeps — what was chosen and
// why, the floors as written, the evidence, the flips worth reading, and how to monitor and roll back the
// choice once it serves traffic. Rendered from results.json alone (docs/results.md).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace bitdial {

// The whole Markdown document (GitHub-flavoured tables). Deterministic; user strings are escaped so they
// can neither break a table nor inject HTML into a rendered view.
std::string render_decision_md(const nlohmann::ordered_json& results);

}  // namespace bitdial
