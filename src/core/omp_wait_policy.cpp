#include "core/omp_wait_policy.h"

#include <unistd.h>

#include <cstdlib>

namespace bitdial {

void reexec_with_passive_omp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "passive", 0) != 0) return;
  ::execv("/proc/self/exe", argv);
  // Still here: /proc is not mounted or the binary is gone; the run keeps the default policy. The
  // variable stays set, which is harmless once the runtime has started.
}

}  // namespace bitdial
