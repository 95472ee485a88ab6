import Foundation
import Synchronization
import Testing

@testable import Galen

/// Galen's worker pool (WorkerPool.c behind `parallelChunks` and `parallelRanges`): every chunk
/// runs exactly once, whatever the nesting, the number of chunks and the number of callers.
@Suite struct WorkerPool {
    /// Counts how often each chunk ran; every count must be exactly 1.
    private func runCounting(_ chunks: Int, threads: Int) -> [Int] {
        let counts = UnsafeMutableBufferPointer<Atomic<Int>>.allocate(capacity: chunks)
        for i in 0..<chunks { (counts.baseAddress! + i).initialize(to: Atomic(0)) }
        defer { counts.deallocate() }
        parallelChunks(chunks, threads: threads) { chunk in counts[chunk].add(1, ordering: .relaxed) }
        return (0..<chunks).map { counts[$0].load(ordering: .relaxed) }
    }

    @Test(arguments: [(2, 2), (3, 2), (64, 2), (7, 4), (1, 2), (5, 1)])
    func everyChunkRunsOnce(chunks: Int, threads: Int) {
        // Many jobs back to back: workers that spin, sleep and wake between them.
        for round in 0..<200 {
            #expect(runCounting(chunks, threads: threads) == Array(repeating: 1, count: chunks), "round \(round)")
            if round % 50 == 49 { usleep(2_000) }  // long enough for the workers to fall asleep
        }
    }

    /// A parallel call inside a chunk runs its chunks on that thread, in order, and completes.
    @Test func nestedCallsRunInline() {
        let outer = 4
        let results = UnsafeMutableBufferPointer<Int>.allocate(capacity: outer * 8)
        defer { results.deallocate() }
        results.initialize(repeating: 0)
        parallelChunks(outer, threads: 2) { i in
            parallelChunks(8, threads: 2) { j in results[i * 8 + j] += i * 8 + j + 1 }
        }
        #expect(Array(results) == Array(1...(outer * 8)))
    }

    /// Several threads start jobs at once: one holds the pool, the others fall back to GCD, and
    /// every job's chunks still run exactly once.
    @Test func concurrentCallersAllComplete() async {
        await withTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var merged: [Int] = []
                    for _ in 0..<100 { merged += runCounting(6, threads: 2) }
                    return merged
                }
            }
            for await counts in group { #expect(counts == Array(repeating: 1, count: 600)) }
        }
    }

    /// A reduction split by `parallelRanges` gives the same bits on every run, and a library call
    /// between jobs (which sends the workers to sleep) changes nothing.
    @Test func rangesAreDeterministicAcrossQuiescing() {
        let values = (0..<100_000).map { Float(sin(Double($0))) }
        func total() -> Float {
            var partials = [Float](repeating: 0, count: 2)
            values.withUnsafeBufferPointer { buffer in
                partials.withUnsafeMutableBufferPointer { out in
                    parallelRanges(count: buffer.count, grain: 1_000, threads: 2) { start, end in
                        out[start == 0 ? 0 : 1] = VectorMath.sum(buffer.baseAddress! + start, count: end - start)
                    }
                }
            }
            return partials[0] + partials[1]
        }
        let first = total()
        for round in 0..<50 {
            if round % 2 == 1 { yieldCoresToLibraries() }
            #expect(total().bitPattern == first.bitPattern)
        }
    }
}
