// Errors with context. Untrusted input (files, configs, requests) raises bitdial::Error naming
// what is wrong and where (file, byte offset, key); commands catch it once and print one line.
// Programmer invariants use BITDIAL_ASSERT, which stays on in release builds.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace bitdial {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Concatenates the parts with operator<< into one message.
template <class... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}

template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  throw Error(concat(std::forward<Parts>(parts)...));
}

[[noreturn]] void assert_failed(const char* expr, const char* file, int line);

}  // namespace bitdial

#define BITDIAL_ASSERT(cond) \
  ((cond) ? (void)0 : ::bitdial::assert_failed(#cond, __FILE__, __LINE__))
