// serve_load: bounded load test for `bitdial serve` (or any OpenAI-compatible server) on loopback.
//   serve_load PORT [CLIENTS=32] [SECONDS=60] [MAX_TOKENS=16] [stream]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "serve/load_client.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: serve_load PORT [CLIENTS=32] [SECONDS=60] [MAX_TOKENS=16] [stream]\n");
    return 1;
  }
  bitdial::serve::LoadOptions o;
  o.port = std::atoi(argv[1]);
  if (argc > 2) o.clients = std::atoi(argv[2]);
  if (argc > 3) o.seconds = std::atof(argv[3]);
  if (argc > 4) o.max_tokens = std::atoi(argv[4]);
  if (argc > 5) o.stream = std::string(argv[5]) == "stream";
  if (o.port <= 0 || o.clients <= 0 || o.seconds <= 0 || o.max_tokens < 0) {
    std::fprintf(stderr, "serve_load: bad arguments\n");
    return 1;
  }
  const bitdial::serve::LoadReport r = bitdial::serve::run_load(o);
  std::fputs(bitdial::serve::render_load_report(o, r).c_str(), stdout);
  return r.errors == 0 ? 0 : 1;
}
