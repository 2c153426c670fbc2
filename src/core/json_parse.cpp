#include "core/json_parse.h"

#include "core/error.h"

namespace bitdial {

nlohmann::json parse_json(std::string_view text, const std::string& what, size_t base_offset,
                          const nlohmann::json::parser_callback_t& callback) {
  try {
    return nlohmann::json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based and points just past the offending character.
    fail(what, ": not valid JSON at byte ", base_offset + (e.byte > 0 ? e.byte - 1 : 0));
  } catch (const nlohmann::json::exception& e) {
    fail(what, ": unusable JSON: ", e.what());
  }
}

}  // namespace bitdial
