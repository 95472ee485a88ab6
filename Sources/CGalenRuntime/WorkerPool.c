// The worker threads behind Galen's own parallel kernels (`parallelRanges` in Parallel.swift).
//
// A training step runs thousands of short kernels back to back: an elementwise op on a
// transformer's activations takes 10–50 µs. Waking a sleeping thread for each one (what
// DispatchQueue.concurrentPerform does: a futex wake, then the scheduler's latency) cost 8–10% of
// the transformer's cycles. These workers instead spin for about 200 µs after a job, so the next
// kernel finds them awake, and only then sleep on a futex. Before Galen hands the
// cores to OpenBLAS or oneDNN, `galen_pool_quiesce` sends spinning workers to sleep at once, so
// they never compete with those libraries' own threads.
//
// A job is `chunks` calls body(context, chunk). The caller takes part and chunks are claimed one
// at a time, so a late or sleeping worker never holds the caller up: it simply finds nothing left.
// Which thread runs a chunk does not change what the chunk computes, so results do not depend on
// the timing.

#include "CGalenRuntime.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <x86intrin.h>
static inline void cpu_relax(void) { _mm_pause(); }
static inline uint64_t now_ticks(void) { return __rdtsc(); }
// About 200 µs at 2.5 GHz: longer than the bookkeeping between two kernels of a training step, and
// than a GCN step's loss and optimizer between its products. 2^16 ticks (25 µs) let the worker fall
// asleep there; waking it cost each product's first block (GCN 351k–380k nodes/s against 383k–451k
// with this spin, LeNet 18.9k–20.1k samples/s against 22.5k–23.7k, run alternately).
static const uint64_t spin_ticks = 1ull << 19;
#else
static inline void cpu_relax(void) {}
static inline uint64_t now_ticks(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}
static const uint64_t spin_ticks = 200000;  // nanoseconds
#endif

enum { max_workers = 255 };

static struct {
    // The current job's id (upper 32 bits) and its next unclaimed chunk (lower 32 bits), in one
    // word so that a claim can only succeed for the job it read the description of.
    _Atomic uint64_t state;
    // The futex sleeping workers wait on: the latest job id.
    _Atomic uint32_t wake;
    // The job's description, written by the caller before it publishes the job.
    _Atomic long chunks;
    _Atomic(galen_pool_body) body;
    _Atomic(void *) context;
    // Chunks finished in the current job.
    _Atomic long done;
    // 1 while a caller runs a job: a second caller (another thread) runs its job elsewhere.
    _Atomic int busy;
    _Atomic int sleepers;
    // 0 after galen_pool_quiesce: idle workers stop spinning and sleep.
    _Atomic int spin;
    // Workers with an index below this take part in jobs (the thread count can shrink).
    _Atomic int participants;
    // Touched by the caller that holds `busy` only.
    uint32_t last_job;
    pthread_mutex_t start_lock;
    int started;
} pool = {.start_lock = PTHREAD_MUTEX_INITIALIZER};

// Nonzero on a thread while it runs a chunk: a nested parallel call then runs its chunks itself.
static _Thread_local int running_chunk;

static void futex_wait(_Atomic uint32_t *word, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

// Claims and runs chunks of `job` until none is left or a newer job replaced it.
static void run_chunks(uint32_t job) {
    uint64_t state = atomic_load_explicit(&pool.state, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(state >> 32) != job) return;
        long chunks = atomic_load_explicit(&pool.chunks, memory_order_relaxed);
        galen_pool_body body = atomic_load_explicit(&pool.body, memory_order_relaxed);
        void *context = atomic_load_explicit(&pool.context, memory_order_relaxed);
        uint32_t next = (uint32_t)state;
        if ((long)next >= chunks) return;
        // Succeeds only if the state still names this job, so the description read above is its.
        if (atomic_compare_exchange_weak_explicit(
                &pool.state, &state, state + 1, memory_order_acq_rel, memory_order_acquire)) {
            running_chunk = 1;
            body(context, (long)next);
            running_chunk = 0;
            atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
            state = atomic_load_explicit(&pool.state, memory_order_acquire);
        }
    }
}

static void *worker_main(void *argument) {
    const int index = (int)(intptr_t)argument;
    uint32_t seen = 0;  // job ids start at 1
    for (;;) {
        uint32_t job = (uint32_t)(atomic_load_explicit(&pool.state, memory_order_acquire) >> 32);
        if (job != seen) {
            seen = job;
            if (index < atomic_load_explicit(&pool.participants, memory_order_relaxed)) run_chunks(job);
            continue;
        }
        // Workers left out of jobs (the thread count shrank) sleep without spinning.
        const int spins = index < atomic_load_explicit(&pool.participants, memory_order_relaxed);
        const uint64_t deadline = now_ticks() + spin_ticks;
        while (spins && atomic_load_explicit(&pool.spin, memory_order_relaxed) && now_ticks() < deadline) {
            cpu_relax();
            job = (uint32_t)(atomic_load_explicit(&pool.state, memory_order_acquire) >> 32);
            if (job != seen) break;
        }
        if (job != seen) continue;
        // Announce the sleep, then look once more: a caller that published a job before seeing the
        // announcement is seen here, and one after it wakes the futex (all sequentially consistent).
        atomic_fetch_add(&pool.sleepers, 1);
        if ((uint32_t)(atomic_load(&pool.state) >> 32) == seen) futex_wait(&pool.wake, seen);
        atomic_fetch_sub(&pool.sleepers, 1);
    }
    return NULL;
}

// A child process of fork() has only the thread that forked: it starts its own workers.
static void forget_workers_after_fork(void) {
    pool.started = 0;
    atomic_store(&pool.busy, 0);
    atomic_store(&pool.sleepers, 0);
    pthread_mutex_init(&pool.start_lock, NULL);
}

// Starts workers until `count` exist; returns whether they do.
static int ensure_workers(int count) {
    if (count > max_workers) return 0;
    if (__atomic_load_n(&pool.started, __ATOMIC_ACQUIRE) >= count) return 1;
    pthread_mutex_lock(&pool.start_lock);
    if (pool.started == 0) pthread_atfork(NULL, NULL, forget_workers_after_fork);
    while (pool.started < count) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attributes, worker_main, (void *)(intptr_t)pool.started);
        pthread_attr_destroy(&attributes);
        if (failed) break;
        __atomic_store_n(&pool.started, pool.started + 1, __ATOMIC_RELEASE);
    }
    int ready = pool.started >= count;
    pthread_mutex_unlock(&pool.start_lock);
    return ready;
}

int galen_pool_run(long chunks, int threads, galen_pool_body body, void *context) {
    if (running_chunk || threads < 2) {
        // Nested in a chunk (every thread of the pool is already busy) or asked for one thread:
        // the chunks run here, in order.
        for (long chunk = 0; chunk < chunks; chunk++) body(context, chunk);
        return 1;
    }
    if (chunks < 1 || chunks > UINT32_MAX) return 0;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&pool.busy, &expected, 1)) return 0;
    if (!ensure_workers(threads - 1)) {
        atomic_store_explicit(&pool.busy, 0, memory_order_release);
        return 0;
    }
    atomic_store_explicit(&pool.participants, threads - 1, memory_order_relaxed);
    atomic_store_explicit(&pool.chunks, chunks, memory_order_relaxed);
    atomic_store_explicit(&pool.body, body, memory_order_relaxed);
    atomic_store_explicit(&pool.context, context, memory_order_relaxed);
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.spin, 1, memory_order_relaxed);
    uint32_t job = pool.last_job + 1;
    if (job == 0) job = 1;  // 0 is what a fresh worker has "seen"
    pool.last_job = job;
    atomic_store(&pool.state, (uint64_t)job << 32);
    atomic_store(&pool.wake, job);
    if (atomic_load(&pool.sleepers) > 0) futex_wake_all(&pool.wake);

    run_chunks(job);
    // Wait for chunks other threads still run; yield now and then in case one was preempted.
    for (unsigned spins = 1; atomic_load_explicit(&pool.done, memory_order_acquire) < chunks; spins++) {
        if (spins % 4096 == 0) sched_yield(); else cpu_relax();
    }
    atomic_store_explicit(&pool.busy, 0, memory_order_release);
    return 1;
}

void galen_pool_quiesce(void) {
    if (running_chunk) return;
    if (atomic_load_explicit(&pool.spin, memory_order_relaxed))
        atomic_store_explicit(&pool.spin, 0, memory_order_relaxed);
}
