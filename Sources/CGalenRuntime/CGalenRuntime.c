// Most functions are static inline in the header; SwiftPM needs one source file per C target.
#include "CGalenRuntime.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int galen_openblas_shorten_idle_spin(int exponent) {
    if (getenv("OPENBLAS_THREAD_TIMEOUT") != NULL) return 0;
    void (*read_environment)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "openblas_read_env");
    int (*stop_threads)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
    if (read_environment == NULL || stop_threads == NULL) return 0;
    char value[16];
    snprintf(value, sizeof value, "%d", exponent);
    setenv("OPENBLAS_THREAD_TIMEOUT", value, 1);
    read_environment();
    // Child processes should see the environment the user gave, not Galen's tuning.
    unsetenv("OPENBLAS_THREAD_TIMEOUT");
    stop_threads();
    return 1;
}
