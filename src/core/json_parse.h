// JSON parsing of untrusted text with bitdial's error convention: any problem (syntax, a number
// out of range) becomes a bitdial::Error "<what>: ... at byte N" instead of a library exception.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace bitdial {

// `what` names the source in messages (a path, "header of x.safetensors"); `base_offset` is added to
// reported byte positions (e.g. 8 for a safetensors header that starts after its length field).
// `callback` is nlohmann's parser callback, or null.
nlohmann::json parse_json(std::string_view text, const std::string& what, size_t base_offset = 0,
                          const nlohmann::json::parser_callback_t& callback = nullptr);

}  // namespace bitdial
