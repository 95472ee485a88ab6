import CBLAS
import CGalenRuntime
import Foundation

/// How many threads Galen's kernels and OpenBLAS use. One knob for both, so they never
/// oversubscribe the cores: the two never run at the same time, each uses all `count` threads.
public enum Threads {
    nonisolated(unsafe) private static var current: Int = {
        let environment = ProcessInfo.processInfo.environment
        let requested = environment["GALEN_NUM_THREADS"].flatMap(Int.init)
            ?? environment["OMP_NUM_THREADS"].flatMap(Int.init)
        let count = max(1, requested ?? ProcessInfo.processInfo.activeProcessorCount)
        // Between BLAS calls Galen's kernels and oneDNN use the same cores, so OpenBLAS's idle
        // threads must sleep soon instead of spinning for 0.1 s (2^14 cycles: a few µs).
        _ = galen_openblas_shorten_idle_spin(14)
        openblas_set_num_threads(Int32(count))
        BLAS.warnAboutFallbackKernels()
        return count
    }()

    /// Applies the thread settings to OpenBLAS before its first call (they are applied once).
    @inline(__always)
    static func configure() { _ = current }

    /// The number of threads used by kernels and BLAS.
    public static var count: Int {
        get { current }
        set {
            check(newValue >= 1, "Threads.count: \(newValue) is not a valid thread count")
            current = newValue
            openblas_set_num_threads(Int32(newValue))
        }
    }
}

/// Lets a closure that captures raw pointers cross into `concurrentPerform`; the kernels using it
/// guarantee that each thread writes a disjoint range.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}

/// Splits 0..<count into at most `threads` (default `Threads.count`) contiguous ranges of at least
/// `grain` elements and runs `body(start, end)` on each, in parallel when there is more than one.
///
/// The split depends only on `count`, `grain` and the thread count, so reductions that combine
/// per-range partial results in range order give the same bits on every run.
@inline(__always)
public func parallelRanges(count: Int, grain: Int, threads: Int = Threads.count, _ body: (Int, Int) -> Void) {
    let chunks = min(threads, count / max(grain, 1))
    if chunks <= 1 {
        if count > 0 { body(0, count) }
        return
    }
    parallelChunks(chunks, threads: threads) { chunk in
        body(count * chunk / chunks, count * (chunk + 1) / chunks)
    }
}

/// Runs `body(chunk)` for every chunk in 0..<chunks, on up to `threads` threads: Galen's worker
/// pool (WorkerPool.c, whose idle workers spin briefly, so back-to-back kernels do not pay a
/// thread wake-up each), or GCD's `concurrentPerform` while another thread's job holds the pool.
/// Nested in a chunk, the chunks run in order on the calling thread.
func parallelChunks(_ chunks: Int, threads: Int = Threads.count, _ body: (Int) -> Void) {
    withoutActuallyEscaping(body) { escapable in
        var job = PoolJob(body: escapable)
        let ran = withUnsafeMutablePointer(to: &job) { pointer in
            galen_pool_run(chunks, Int32(clamping: threads), { context, chunk in
                context!.assumingMemoryBound(to: PoolJob.self).pointee.body(chunk)
            }, pointer)
        }
        if ran != 0 { return }
        let box = UncheckedSendable(value: escapable)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in box.value(chunk) }
    }
}

/// What a pool job's C trampoline calls.
private struct PoolJob {
    let body: (Int) -> Void
}

/// Runs `body` with OpenBLAS held to one thread, for products that run on Galen's threads, one
/// block of work per thread, so that the two levels of threading do not oversubscribe the cores.
func withSingleThreadedBLAS(_ body: () -> Void) {
    Threads.configure()
    openblas_set_num_threads(1)
    defer { openblas_set_num_threads(Int32(Threads.count)) }
    body()
}

/// Sends Galen's spinning worker threads to sleep before OpenBLAS or oneDNN take the cores with
/// their own threads (see `galen_pool_quiesce`).
@inline(__always)
func yieldCoresToLibraries() {
    galen_pool_quiesce()
}

/// Facts about the BLAS library Galen links.
public enum BLAS {
    /// The kernel set OpenBLAS chose for this CPU ("Haswell", "SkylakeX", "Zen", "Prescott", …).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Whether OpenBLAS's kernel set has its "direct" small-matrix sgemm (0.3.21: SkylakeX and the
    /// sets derived from it), which beats packing both operands on small products.
    static let hasSmallMatrixKernels = ["SkylakeX", "Cooperlake", "SapphireRapids"].contains(coreName)

    /// OpenBLAS reads OPENBLAS_CORETYPE when it loads, before any Swift code runs, so Galen cannot
    /// fix a poor kernel choice itself; it says so once, with the remedy.
    static func warnAboutFallbackKernels() {
        guard coreName == "Prescott", ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
            let cpu = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            cpu.contains(" avx2"), cpu.contains(" fma")
        else { return }
        FileHandle.standardError.write(Data(
            ("galen: warning: OpenBLAS does not recognize this CPU and uses its slow SSE3 kernels; "
                + "set OPENBLAS_CORETYPE=Haswell (or SkylakeX on AVX-512 CPUs) for 3x faster matrix products\n").utf8))
    }
}
