#include "serve/ab_split.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace bitdial::serve {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

}  // namespace

uint64_t stable_hash(std::string_view s) { return fnv1a(kFnvOffset, s); }

bool in_candidate_arm(std::string_view route, std::string_view user_key, double percent) {
  BITDIAL_ASSERT(percent >= 0 && percent <= 100);
  // Hashing the three parts in sequence equals hashing their concatenation (FNV is byte-serial).
  uint64_t h = fnv1a(kFnvOffset, route);
  h = fnv1a(h, std::string_view("\x1f", 1));
  h = fnv1a(h, user_key);
  const uint64_t bucket = h % 10000;
  const auto threshold = static_cast<uint64_t>(std::llround(percent * 100));  // 0 .. 10000
  return bucket < threshold;
}

}  // namespace bitdial::serve
