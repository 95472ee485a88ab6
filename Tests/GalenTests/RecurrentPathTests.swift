import CGalenRuntime
import Testing

@testable import Galen

/// The recurrent op's threaded path (the batch split into blocks of sequences, each running every
/// step with single-threaded GEMMs) and its oneDNN path (W_hh packed once per block) compute what
/// the one-block OpenBLAS reference path computes.
@Suite struct RecurrentPaths {
    struct Case: CustomStringConvertible, Sendable {
        var kind: RecurrentCell
        var reverse = false
        var lengths = false
        var truncation: Int? = nil
        var description: String {
            "\(kind.rawValue)\(reverse ? " reverse" : "")\(lengths ? " lengths" : "")\(truncation.map { " truncation \($0)" } ?? "")"
        }
    }

    static let cases: [Case] = [
        Case(kind: .lstm), Case(kind: .lstm, reverse: true, lengths: true), Case(kind: .lstm, truncation: 3),
        Case(kind: .gru), Case(kind: .gru, reverse: true, lengths: true),
        Case(kind: .rnnTanh, lengths: true), Case(kind: .rnnRelu, reverse: true),
    ]

    @Test(arguments: cases)
    func blocksMatchReference(_ c: Case) {
        let g = Generator(seed: 11)
        let (steps, batch, features, width) = (7, 27, 5, 6)
        let gates = c.kind.gateCount * width
        let x = Tensor.randn([steps, batch, features], generator: g)
        let h0 = Tensor.randn([batch, width], generator: g) * 0.5
        let c0 = c.kind == .lstm ? Tensor.randn([batch, width], generator: g) * 0.5 : nil
        let weights = [Tensor.randn([gates, features], generator: g) * 0.5, Tensor.randn([gates, width], generator: g) * 0.5,
                       Tensor.randn([gates], generator: g) * 0.1, Tensor.randn([gates], generator: g) * 0.1]
        let upstream = Tensor.randn([steps * batch * width + batch * width * (c.kind == .lstm ? 2 : 1)], generator: g)
        // Lengths from 0 to T, scattered so that every block holds short and full sequences.
        let lengths = c.lengths ? (0..<batch).map { ($0 * 5) % (steps + 1) } : nil

        func run(threads: Int, path: MatmulPath) -> [[Float]] {
            let input = x.copy().requiringGrad(), hidden = h0.copy().requiringGrad()
            let cell = c0?.copy().requiringGrad()
            let w = weights.map { $0.copy().requiringGrad() }
            let result = recurrentLayer(c.kind, input: input, hidden: hidden, cell: cell, weightIH: w[0], weightHH: w[1],
                                        biasIH: w[2], biasHH: w[3], lengths: lengths, reverse: c.reverse,
                                        truncation: c.truncation, threads: threads, path: path, packedMinimumWork: 0)
            var outputs = [result.output.reshaped([-1]), result.hidden.reshaped([-1])]
            if let finalCell = result.cell { outputs.append(finalCell.reshaped([-1])) }
            let joined = concat(outputs, axis: 0)
            (joined * upstream.narrow(axis: 0, start: 0, length: joined.shape[0])).sum().backward()
            return [joined.scalars] + ([input, hidden] + (cell.map { [$0] } ?? []) + w).map { $0.grad!.scalars }
        }
        let reference = run(threads: 1, path: .openBLAS)
        for (threads, path) in [(2, MatmulPath.openBLAS), (3, .openBLAS), (1, .oneDNN), (2, .oneDNN), (3, .oneDNN)] {
            let blocked = run(threads: threads, path: path)
            for (index, (a, b)) in zip(blocked, reference).enumerated() {
                let worst = zip(a, b).map { abs($0 - $1) / (1 + abs($1)) }.max() ?? 0
                #expect(worst <= 1e-5, "\(c), \(threads) blocks on \(path): tensor \(index) differs by \(worst)")
            }
        }
    }
}

/// The AVX-512 and AVX2 LSTM gate kernels (CGalenRuntime) compute what the portable Swift kernels
/// compute, within the rounding of their reciprocal estimates, including the masked tail of a
/// width that is not a multiple of the lanes and saturating pre-activations. Each runs where the
/// CPU has its instructions (and is skipped, not failed, elsewhere).
@Suite struct LSTMGateKernels {
    @Test(.enabled(if: galen_cpu_has_avx512() != 0, "this CPU has no AVX-512"), arguments: [128, 20, 1])
    func avx512MatchesPortable(_ width: Int) {
        Self.check(width, forward: { galen_lstm_step_avx512($0, $1, $2, $3, width) }) {
            galen_lstm_step_backward_avx512($0, $1, $2, $3, $4, $5, width)
        }
    }

    @Test(.enabled(if: galen_cpu_has_avx2() != 0, "this CPU has no AVX2 + FMA"), arguments: [128, 20, 7, 1])
    func avx2MatchesPortable(_ width: Int) {
        Self.check(width, forward: { galen_lstm_step_avx2($0, $1, $2, $3, width) }) {
            galen_lstm_step_backward_avx2($0, $1, $2, $3, $4, $5, width)
        }
    }

    /// The dispatch picks the widest kernels the CPU runs.
    @Test func bestKernelsFollowTheCPU() {
        let expected: LSTMGateKernelSet =
            galen_cpu_has_avx512() != 0 ? .avx512 : galen_cpu_has_avx2() != 0 ? .avx2 : .portable
        #expect(LSTMGateKernelSet.best == expected)
    }

    static func check(
        _ width: Int,
        forward fastForward: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
        backward fastBackward: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    ) {
        let g = Generator(seed: 5)
        // Pre-activations of unit scale, plus (where there is room) extremes where sigmoid and tanh
        // saturate or tanh takes its series branch near 0.
        var gates = (Tensor.randn([4 * width], generator: g) * 3).scalars
        let extremes: [Float] = [-100, 100, -20, 20, 0, 1e-3, -1e-3, 0.05]
        if gates.count >= 64 {
            for (index, value) in extremes.enumerated() { gates[index * 7] = value }
        }
        let cell = Tensor.randn([width], generator: g).scalars
        let (hiddenGradient, cellGradient) = (Tensor.randn([width], generator: g).scalars, Tensor.randn([width], generator: g).scalars)

        func forward(fast: Bool) -> (gates: [Float], cell: [Float], cellTanh: [Float], hidden: [Float]) {
            var (gs, c) = (gates, cell)
            var (tc, h) = ([Float](repeating: 0, count: width), [Float](repeating: 0, count: width))
            if fast {
                fastForward(&gs, &c, &tc, &h)
            } else {
                lstmStepPortable(gates: &gs, cell: &c, cellTanh: &tc, hidden: &h, width: width)
            }
            return (gs, c, tc, h)
        }
        let (fast, reference) = (forward(fast: true), forward(fast: false))
        func worst(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) / (1 + abs($1)) }.max() ?? 0 }
        #expect(worst(fast.gates, reference.gates) <= 1e-6)
        #expect(worst(fast.cell, reference.cell) <= 1e-6)
        #expect(worst(fast.cellTanh, reference.cellTanh) <= 1e-6)
        #expect(worst(fast.hidden, reference.hidden) <= 1e-6)
        #expect(reference.hidden.contains { $0 != 0 })

        func backward(fast: Bool) -> (gateGradients: [Float], cellGradient: [Float]) {
            var dc = cellGradient
            var dg = [Float](repeating: 0, count: 4 * width)
            if fast {
                fastBackward(reference.gates, reference.cellTanh, cell, hiddenGradient, &dc, &dg)
            } else {
                lstmStepBackwardPortable(
                    gates: reference.gates, cellTanh: reference.cellTanh, cellBefore: cell, hiddenGradient: hiddenGradient,
                    cellGradient: &dc, gateGradients: &dg, width: width)
            }
            return (dg, dc)
        }
        let (fastBackward, referenceBackward) = (backward(fast: true), backward(fast: false))
        #expect(worst(fastBackward.gateGradients, referenceBackward.gateGradients) <= 1e-6)
        #expect(worst(fastBackward.cellGradient, referenceBackward.cellGradient) <= 1e-6)
        #expect(referenceBackward.gateGradients.contains { $0 != 0 })
    }
}

/// The gate-gradient transposes (the recurrent backward's (rows × gates) → (gates × rows) copy)
/// put every element where the definition says and touch nothing else in the target: sizes with
/// and without whole 8×8 tiles, into a target wider than the block (as the per-step copies are).
@Suite struct GateGradientTranspose {
    static let sizes: [(rows: Int, columns: Int)] = [(13, 21), (32, 512), (8, 8), (1, 7), (9, 16), (16, 3), (7, 1)]

    static func check(_ transpose: (UnsafePointer<Float>, Int, Int, UnsafeMutablePointer<Float>, Int) -> Void) {
        for (rows, columns) in sizes {
            let source = (0..<rows * columns).map { Float($0) + 0.5 }
            let (leadingDimension, offset) = (rows + 5, 3)
            let sentinel: Float = -1
            var target = [Float](repeating: sentinel, count: columns * leadingDimension + offset)
            target.withUnsafeMutableBufferPointer { transpose(source, rows, columns, $0.baseAddress! + offset, leadingDimension) }
            var expected = [Float](repeating: sentinel, count: target.count)
            for r in 0..<rows {
                for c in 0..<columns { expected[offset + c * leadingDimension + r] = source[r * columns + c] }
            }
            let wrong = zip(target, expected).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
            #expect(wrong.isEmpty, "\(rows)×\(columns): \(wrong.count) misplaced, first at \(wrong.first ?? -1)")
        }
    }

    @Test func portable() {
        Self.check { transposeBlockPortable($0, rows: $1, columns: $2, into: $3, leadingDimension: $4) }
    }

    @Test(.enabled(if: galen_cpu_has_avx2() != 0, "this CPU has no AVX2 + FMA"))
    func avx2() {
        Self.check { galen_transpose_avx2($0, $1, $2, $3, $4) }
    }
}
