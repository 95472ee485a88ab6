// The machine's arithmetic ceiling, so that the training figures can be read as a fraction of it:
// a chain of independent fused multiply-adds on SIMD registers, on 1 and N threads.
//
// This file has no dependency besides Foundation on purpose: inside galen-bench it is compiled
// with Galen's flags (-target-cpu haswell: AVX2, 8-lane vectors), and Benchmarks/run also compiles
// it alone with -D PEAK_AVX512 -target-cpu skylake-avx512 on CPUs that have AVX-512, because a
// Swift build has one target CPU for every file and the AVX-512 ceiling is twice the AVX2 one.

import Foundation

#if PEAK_AVX512
    typealias PeakVector = SIMD16<Float>
    let peakVectorName = "avx512-simd16"
#else
    typealias PeakVector = SIMD8<Float>
    let peakVectorName = "avx2-simd8"
#endif

/// Runs `iterations` rounds of 12 independent multiply-add chains and returns their sum (so the
/// work cannot be dropped). Twelve chains cover two FMA ports times a 4–6 cycle latency; fewer
/// would measure the latency rather than the throughput. The multiplier just below 1 keeps every
/// value finite and far from denormals, whose slow path would distort the figure.
@inline(never)
func fmaChains(iterations: Int, multiplier: Float, addend: Float) -> Float {
    let m = PeakVector(repeating: multiplier)
    let a = PeakVector(repeating: addend)
    var (c0, c1, c2, c3, c4, c5) = (a, a * 2, a * 3, a * 4, a * 5, a * 6)
    var (c6, c7, c8, c9, c10, c11) = (a * 7, a * 8, a * 9, a * 10, a * 11, a * 12)
    for _ in 0..<iterations {
        c0 = a.addingProduct(c0, m); c1 = a.addingProduct(c1, m); c2 = a.addingProduct(c2, m)
        c3 = a.addingProduct(c3, m); c4 = a.addingProduct(c4, m); c5 = a.addingProduct(c5, m)
        c6 = a.addingProduct(c6, m); c7 = a.addingProduct(c7, m); c8 = a.addingProduct(c8, m)
        c9 = a.addingProduct(c9, m); c10 = a.addingProduct(c10, m); c11 = a.addingProduct(c11, m)
    }
    let total = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11))
    return total.sum()
}

/// GFLOP/s of `fmaChains` on `threads` threads at once (each thread its own chains): the best of a
/// few short runs, since the ceiling is what is asked and neighbour load only ever lowers it.
func fmaPeakGFLOPS(threads: Int, seconds budget: Double) -> Double {
    let iterations = 2_000_000
    let flopsPerCall = Double(iterations) * 12 * Double(PeakVector.scalarCount) * 2
    // Runtime values, so the compiler cannot fold the chain; the chains settle at a / (1 − m).
    let k = Float(max(1, CommandLine.arguments.count))
    let multiplier = 1 - 1e-4 / k
    let addend = 1e-3 * k
    var best = 0.0
    let start = Date()
    repeat {
        let t0 = Date()
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            let value = fmaChains(iterations: iterations, multiplier: multiplier, addend: addend)
            if value.isNaN { print("unexpected NaN") }
        }
        best = max(best, Double(threads) * flopsPerCall / Date().timeIntervalSince(t0) / 1e9)
    } while Date().timeIntervalSince(start) < budget
    return best
}

/// One JSON line per thread count, the format Benchmarks/run reads.
func reportFMAPeak(threadCounts: [Int], seconds: Double) {
    for threads in threadCounts {
        let gflops = fmaPeakGFLOPS(threads: threads, seconds: seconds)
        print("{\"impl\": \"peak\", \"workload\": \"fma-\(peakVectorName)\", \"threads\": \(threads), "
            + "\"unit\": \"GFLOP/s\", \"value\": \(String(format: "%.4g", gflops))}")
        fflush(nil)
    }
}

#if PEAK_STANDALONE
    /// The standalone AVX-512 build: `peak [--threads N] [--quick]` measures 1 and N threads.
    @main
    enum PeakMain {
        static func main() {
            let arguments = CommandLine.arguments
            var threads = 2
            if let index = arguments.firstIndex(of: "--threads"), index + 1 < arguments.count,
                let n = Int(arguments[index + 1]), n >= 1
            {
                threads = n
            }
            let seconds = arguments.contains("--quick") ? 0.2 : 1.0
            reportFMAPeak(threadCounts: threads == 1 ? [1] : [1, threads], seconds: seconds)
        }
    }
#endif
