// Process-level knobs Swift cannot reach directly (glibc's malloc.h is not in the Glibc module).
#pragma once
#include <malloc.h>

/// Keeps blocks up to 32 MiB in the heap and never trims it, so freed tensor buffers are reused
/// instead of being returned to the kernel and faulted in (and zeroed) again on the next step.
static inline void galen_tune_heap(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
}
