// OpenMP's wait policy for commands whose threads meet at thousands of barriers per second
// (training). libgomp reads OMP_WAIT_POLICY once, when it is loaded, so the only way to change the
// default from inside the program is to start it again with the variable set.
#pragma once

namespace bitdial {

// When OMP_WAIT_POLICY is unset, sets it to "passive" and replaces this process with a fresh copy
// of itself (same argv) so the OpenMP runtime starts with it; idle threads then sleep instead of
// spinning, which on a machine where other work shares the cores kept training at 2 threads from
// dropping to a third of its speed. Returns (doing nothing) when the variable is already set, and
// when the re-execution fails (the run then goes on with the runtime's default).
void reexec_with_passive_omp_wait(char** argv);

}  // namespace bitdial
