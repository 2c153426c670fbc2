// Sticky A/B assignment for a route's candidate rollout: a user lands in the same arm on every
// request (so they see one model, and their feedback is attributable), and the share of users in the
// candidate arm is the configured percent.
#pragma once

#include <cstdint>
#include <string_view>

namespace bitdial::serve {

// FNV-1a, 64-bit, over the bytes of `s`: start from 14695981039346656037 (0xcbf29ce484222325); for each
// byte, hash ^= byte, then hash *= 1099511628211 (0x100000001b3) modulo 2^64. Stable across builds and
// platforms so that other tools (log analysis, a second gateway) can reproduce assignments.
uint64_t stable_hash(std::string_view s);

// Whether `user_key` is in the candidate arm of `route`:
//   bucket = stable_hash(route + '\x1f' + user_key) % 10000; candidate when bucket < round(percent * 100).
// `percent` in [0, 100] (0: nobody, 100: everybody; assertion otherwise), resolution 0.01 points.
// Including the route makes arms independent between routes. The server passes the request's user
// key (the OpenAI `user` field or a header); when there is none it passes the request id, so such
// requests are split by share but not sticky.
bool in_candidate_arm(std::string_view route, std::string_view user_key, double percent);

}  // namespace bitdial::serve
