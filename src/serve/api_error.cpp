// Serialises ApiError into OpenAI's error body.
#include "serve/api_error.h"

#include <nlohmann/json.hpp>

namespace bitdial::serve {

std::string error_body(const ApiError& error) {
  nlohmann::ordered_json inner;
  inner["message"] = error.message;
  inner["type"] = error.type;
  inner["param"] = error.param.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(error.param);
  inner["code"] = error.code.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(error.code);
  nlohmann::ordered_json body;
  body["error"] = std::move(inner);
  // Messages may quote user bytes (a bad stop string, a role name) that are not valid UTF-8.
  return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace bitdial::serve
