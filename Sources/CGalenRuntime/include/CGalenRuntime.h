// Process-level knobs Swift cannot reach directly (glibc's malloc.h is not in the Glibc module).
#pragma once
#include <malloc.h>

/// Keeps blocks up to 32 MiB in the heap and never trims it, so freed tensor buffers are reused
/// instead of being returned to the kernel and faulted in (and zeroed) again on the next step.
static inline void galen_tune_heap(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
}

/// Makes OpenBLAS's idle worker threads go to sleep after about 2^exponent CPU cycles instead of
/// its default 2^28 (~0.1 s). While they spin (calling sched_yield) they compete for the cores
/// with Galen's own threads and oneDNN's, which run between BLAS calls: on two cores the spinning
/// cost LeNet training 5x. OpenBLAS reads OPENBLAS_THREAD_TIMEOUT only when it loads and when it
/// starts its threads, so this re-reads the environment and stops the pool; the next
/// multi-threaded call starts it again with the short timeout (the path OpenBLAS's own fork
/// handler uses). A timeout the user set in the environment is left alone. The symbols are looked
/// up at run time because they are not part of the CBLAS interface. Returns 1 when applied.
int galen_openblas_shorten_idle_spin(int exponent);
