// What Swift cannot reach directly: process-level knobs (glibc's malloc.h is not in the Glibc
// module, OpenBLAS's internals, futexes), the worker threads of Galen's parallel kernels, and
// kernels that need AVX-512 on a build that targets AVX2.
#pragma once
#include <malloc.h>
#include <stdint.h>

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

/// A chunk of a parallel job: called once for every chunk in 0..<chunks, on some thread.
typedef void (*galen_pool_body)(void *context, long chunk);

/// Runs body(context, chunk) for every chunk in 0..<chunks on the calling thread and up to
/// threads − 1 of Galen's worker threads (started on first use; see WorkerPool.c), and returns
/// when all are done. Called from inside a chunk, or with threads < 2, it runs the chunks in order
/// on the calling thread.
/// Returns 0, having run nothing, when another thread's job holds the pool or workers cannot be
/// started: the caller then runs the job some other way.
int galen_pool_run(long chunks, int threads, galen_pool_body body, void *context);

/// Sends Galen's idle worker threads to sleep now instead of after their short spin: called
/// before OpenBLAS or oneDNN take the cores with their own threads.
void galen_pool_quiesce(void);

/// Whether this CPU (and the OS) run AVX-512F code: the AVX-512 kernels below are used only then.
int galen_cpu_has_avx512(void);

/// One LSTM step's gate math for one sequence (see `lstmStep` in Recurrent.swift): gates holds the
/// four pre-activations i|f|g|o (width each) and gets the activations; cell is updated in place;
/// tanh(c) and h = o·tanh(c) are written. AVX-512 only.
void galen_lstm_step_avx512(float *gates, float *cell, float *cell_tanh, float *hidden, long width);

/// The backward of galen_lstm_step_avx512 (see `lstmStepBackward`): writes the four gate
/// gradients and replaces the cell gradient with the one before the step. AVX-512 only.
void galen_lstm_step_backward_avx512(
    const float *gates, const float *cell_tanh, const float *cell_before, const float *hidden_gradient,
    float *cell_gradient, float *gate_gradients, long width);

/// Whether this CPU runs AVX2 and FMA code (the LSTM and pooling kernels below).
int galen_cpu_has_avx2(void);

/// galen_lstm_step_avx512 on 8 lanes. AVX2 + FMA only.
void galen_lstm_step_avx2(float *gates, float *cell, float *cell_tanh, float *hidden, long width);

/// galen_lstm_step_backward_avx512 on 8 lanes. AVX2 + FMA only.
void galen_lstm_step_backward_avx2(
    const float *gates, const float *cell_tanh, const float *cell_before, const float *hidden_gradient,
    float *cell_gradient, float *gate_gradients, long width);

/// Copies a row-major (rows × columns) matrix, transposed, into target: element (r, c) goes to
/// target[c · target_stride + r]. 8×8 tiles in registers, scalar edges. AVX2 only.
void galen_transpose_avx2(const float *source, long rows, long columns, float *target, long target_stride);

/// 2×2, stride-2 max pooling of one (H, W) plane whose windows lie inside it: out_height × out_width
/// maxima and their flat indices ih·W + iw (first maximum wins, NaN propagates). AVX2 only.
void galen_max_pool_2x2_avx2(
    const float *input, long width, float *output, int32_t *index, long out_height, long out_width);

/// Its gradient: writes every element of the plane's dx, dy at each window's recorded maximum and
/// 0 elsewhere (including a last row or column no window covers). AVX2 only.
void galen_max_pool_2x2_backward_avx2(
    const float *dy, const int32_t *index, float *dx, long height, long width, long out_height, long out_width);
