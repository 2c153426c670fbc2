// The server's error answers in OpenAI's shape ({"error":{"message","type","param","code"}}), and an
// exception that carries one so that code deep inside request parsing or routing can give up with the
// exact HTTP status and message the client should see.
#pragma once

#include <stdexcept>
#include <string>

namespace bitdial::serve {

struct ApiError {
  int status = 500;     // HTTP status
  // "invalid_request_error", "authentication_error", "not_found_error", "rate_limit_error",
  // "server_error", "timeout_error"
  std::string type;
  std::string message;  // for people: names the offending field and what was wrong with it
  std::string param;    // the request field at fault; "" if none (answered as null)
  std::string code;     // machine-readable detail; "" if none (answered as null)
};

// {"error":{"message":..,"type":..,"param":..|null,"code":..|null}}, compact; never throws on invalid
// UTF-8 in the message (replaced by U+FFFD).
std::string error_body(const ApiError& error);

class ApiException : public std::runtime_error {
 public:
  explicit ApiException(ApiError error) : std::runtime_error(error.message), error_(std::move(error)) {}
  const ApiError& error() const { return error_; }

  // HTTP 400 "invalid_request_error" about `param` (the request field, "" if the body as a whole).
  static ApiException invalid_request(std::string param, std::string message) {
    return ApiException(ApiError{400, "invalid_request_error", std::move(message), std::move(param), ""});
  }

 private:
  ApiError error_;
};

}  // namespace bitdial::serve
