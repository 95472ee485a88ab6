import CBLAS
import CGalenRuntime
import Foundation

// Recurrent layers as one fused op per layer and direction (what cuDNN and PyTorch's CPU kernels
// also do), not a graph of small per-step ops: the input projection of all time steps is one
// GEMM, each step adds one (batch × hidden) · (hidden × gates) GEMM and runs its gate math on raw
// buffers, and the backward pass walks the steps in reverse collecting the gate gradients, from
// which the weight gradients are again two big GEMMs. A composed graph would allocate a dozen
// tensors per step and make the LSTM benchmark allocator-bound.

/// The recurrence of a recurrent layer, with PyTorch's gate order.
public enum RecurrentCell: String, Sendable, CaseIterable {
    /// h' = tanh(W_ih x + b_ih + W_hh h + b_hh).
    case rnnTanh
    /// h' = relu(W_ih x + b_ih + W_hh h + b_hh).
    case rnnRelu
    /// Gates i, f, g, o: c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c').
    case lstm
    /// Gates r, z, n: n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h.
    case gru

    /// Rows of the weight matrices per hidden unit.
    public var gateCount: Int {
        switch self {
        case .rnnTanh, .rnnRelu: 1
        case .lstm: 4
        case .gru: 3
        }
    }
}

/// What one recurrent layer direction returns.
public struct RecurrentLayerOutput {
    /// Hidden state at every step, (T, B, H); zero at steps past a sequence's length.
    public let output: Tensor
    /// Hidden state after each sequence's last step, (B, H).
    public let hidden: Tensor
    /// LSTM only: cell state after each sequence's last step, (B, H).
    public let cell: Tensor?
}

/// Runs one direction of one recurrent layer over a time-major sequence.
///
/// - Parameters:
///   - input: (T, B, I).
///   - hidden: the initial hidden state (B, H); `cell` the LSTM's initial cell state (B, H).
///   - weightIH: (gates·H, I); weightHH: (gates·H, H); biases (gates·H) — PyTorch's layout.
///   - lengths: each sequence's length (≤ T). Steps at or past it leave the state unchanged and
///     output zeros, which is PyTorch's packed-sequence result: the final state is the state after
///     the last valid step, and a reverse direction starts at the last valid step.
///   - reverse: process steps T−1 … 0 (the backward direction of a bidirectional layer).
///   - truncation: truncated backpropagation through time: the gradient does not flow through
///     the state between chunks of this many steps (in processing order), as if the state were
///     detached after every chunk; the forward pass is unchanged. The initial state still gets
///     the first chunk's gradient.
public func recurrentLayer(
    _ kind: RecurrentCell, input: Tensor, hidden: Tensor, cell: Tensor? = nil,
    weightIH: Tensor, weightHH: Tensor, biasIH: Tensor?, biasHH: Tensor?,
    lengths: [Int]? = nil, reverse: Bool = false, truncation: Int? = nil
) -> RecurrentLayerOutput {
    recurrentLayer(kind, input: input, hidden: hidden, cell: cell, weightIH: weightIH, weightHH: weightHH,
                   biasIH: biasIH, biasHH: biasHH, lengths: lengths, reverse: reverse, truncation: truncation,
                   threads: Threads.count, path: MatmulPath.current)
}

/// `recurrentLayer` with the recurrence split over `threads` blocks of sequences (1: one block,
/// multi-threaded products) and its products on `path`, so tests can compare the paths. On the
/// oneDNN path a block whose per-step product has at least `packedMinimumWork` multiply-adds
/// packs W_hh once (`OneDNNPackedProduct`) for all its steps.
func recurrentLayer(
    _ kind: RecurrentCell, input: Tensor, hidden: Tensor, cell: Tensor?,
    weightIH: Tensor, weightHH: Tensor, biasIH: Tensor?, biasHH: Tensor?,
    lengths: [Int]?, reverse: Bool, truncation: Int?, threads: Int, path: MatmulPath,
    packedMinimumWork: Int = OneDNNMatmul.minimumWork
) -> RecurrentLayerOutput {
    let op = "recurrentLayer(\(kind.rawValue))"
    check(input.rank == 3, "\(op): input must be (T, B, features), got \(input.shape)")
    let (steps, batch, features) = (input.shape[0], input.shape[1], input.shape[2])
    check(steps > 0 && batch > 0, "\(op): input \(input.shape) has no steps or no sequences")
    check(hidden.rank == 2 && hidden.shape[0] == batch,
          "\(op): initial hidden state must be (B = \(batch), H), got \(hidden.shape)")
    let width = hidden.shape[1]
    let gates = kind.gateCount * width
    check(weightIH.shape == [gates, features],
          "\(op): weightIH must be [\(gates), \(features)] for input \(input.shape) and hidden \(width), got \(weightIH.shape)")
    check(weightHH.shape == [gates, width], "\(op): weightHH must be [\(gates), \(width)], got \(weightHH.shape)")
    for (name, bias) in [("biasIH", biasIH), ("biasHH", biasHH)] {
        if let bias { check(bias.shape == [gates], "\(op): \(name) must be [\(gates)], got \(bias.shape)") }
    }
    if kind == .lstm {
        check(cell?.shape == [batch, width], "\(op): LSTM needs an initial cell state [\(batch), \(width)], got \(cell.map { "\($0.shape)" } ?? "none")")
    } else {
        check(cell == nil, "\(op): only an LSTM takes a cell state")
    }
    if let truncation { check(truncation > 0, "\(op): truncation must be positive, got \(truncation)") }
    if let lengths {
        check(lengths.count == batch, "\(op): \(lengths.count) lengths for a batch of \(batch)")
        check(lengths.allSatisfy { $0 >= 0 && $0 <= steps }, "\(op): lengths \(lengths) must lie in 0…\(steps)")
    }

    let x = input.contiguousValues()
    let wIH = weightIH.contiguousValues()
    let wHH = weightHH.contiguousValues()
    let bIH = biasIH?.contiguousValues()
    let bHH = biasHH?.contiguousValues()
    let h0 = hidden.contiguousValues()
    let c0 = cell?.contiguousValues()
    let rows = steps * batch
    let stateCount = batch * width

    // Saved for the backward pass (all indexed by time step, not processing order):
    // activated gates, the state entering each step, and per cell type what the derivative needs.
    let gateValues = TensorStorage(uninitializedCount: rows * gates)
    let hiddenBefore = TensorStorage(uninitializedCount: rows * width)
    let cellBefore = kind == .lstm ? TensorStorage(uninitializedCount: rows * width) : nil
    let cellTanh = kind == .lstm ? TensorStorage(uninitializedCount: rows * width) : nil
    let hiddenCandidate = kind == .gru ? TensorStorage(uninitializedCount: rows * width) : nil

    // The result packs output, final hidden and final cell state into one buffer so that one op
    // records one backward; the three views below slice it.
    let outputCount = rows * width
    let packedCount = outputCount + stateCount * (kind == .lstm ? 2 : 1)
    let packed = Tensor(uninitializedShape: [packedCount])
    let out = packed.pointer
    let hState = out + outputCount
    let cState = kind == .lstm ? hState + stateCount : nil
    hState.update(from: h0.pointer, count: stateCount)
    if let cState, let c0 { cState.update(from: c0.pointer, count: stateCount) }

    // Input projection for every step at once: G = X · W_ihᵀ (+ biases that are not gated by r).
    // The biases go into the product (oneDNN adds them as it writes G), not a pass of their own.
    let g = gateValues.pointer
    let projectionBias = combinedBias(bIH?.pointer, kind == .gru ? nil : bHH?.pointer, columns: gates)
    func project(bias: UnsafePointer<Float>?) {
        gemm(false, true, m: rows, n: gates, k: features, alpha: 1, x.pointer, features, wIH.pointer, features,
             beta: 0, g, gates, bias: bias, path: path)
    }
    if let projectionBias {
        projectionBias.withUnsafeBufferPointer { project(bias: $0.baseAddress) }
    } else {
        project(bias: nil)
    }

    // W_hh h of the step. GRU needs it apart (its n-part is scaled by r). LSTM adds it to the step's
    // input projection in the gate pass: written straight into those rows (a sum post-op), the
    // product read them cold from memory, and its per-step median on two AMD threads (one block
    // of 32 sequences each, under ONEDNN_VERBOSE) went from 103 µs to 87–88 with the product here.
    let hiddenProjection = kind == .gru || kind == .lstm ? TensorStorage(uninitializedCount: batch * gates) : nil
    // The recurrence couples steps, not sequences: each thread runs every step for its own block
    // of sequences, with single-threaded GEMMs, so the steps pay no cross-thread barrier.
    recurrenceBlocks(batch: batch, threads: threads) { first, end, blockThreads in
        let blockStates = (end - first) * width
        let recurrence = path == .oneDNN && (end - first) * gates * width >= packedMinimumWork
            ? OneDNNPackedProduct(transposeA: false, transposeB: true, m: end - first, n: gates, k: width, lda: width,
                                  wHH.pointer, ldb: width, beta: hiddenProjection != nil ? 0 : 1, ldc: gates)
            : nil
        for t in processingOrder(steps, reverse: reverse) {
            let gt = g + t * batch * gates
            let stepState = t * stateCount + first * width
            hiddenBefore.pointer.advanced(by: stepState).update(from: hState + first * width, count: blockStates)
            if let cState {
                cellBefore!.pointer.advanced(by: stepState).update(from: cState + first * width, count: blockStates)
            }
            // GRU keeps W_hh h + b_hh apart: its n-part is scaled by r before joining the input part.
            let target = hiddenProjection.map { $0.pointer + first * gates } ?? gt + first * gates
            if let recurrence {
                recurrence.run(hState + first * width, target)
            } else {
                sgemm(hState + first * width, MatrixOperand(transpose: CblasNoTrans, leadingDimension: width),
                      wHH.pointer, MatrixOperand(transpose: CblasTrans, leadingDimension: width),
                      target, m: end - first, n: gates, k: width, beta: hiddenProjection == nil ? 1 : 0,
                      threads: blockThreads, path: path)
            }
            if kind == .gru { addRowBias(target, rows: end - first, columns: gates, bHH?.pointer, nil) }
            for b in first..<end {
                let row = gt + b * gates
                let h = hState + b * width
                let o = out + (t * batch + b) * width
                let active = lengths.map { t < $0[b] } ?? true
                switch kind {
                case .rnnTanh:
                    VectorMath.tanh(row, row, count: width)
                case .rnnRelu:
                    for j in 0..<width { row[j] = Swift.max(row[j], 0) }
                case .lstm:
                    // A padded step's gates are never read back: the backward skips the step.
                    guard active else { break }
                    VectorMath.add(hiddenProjection!.pointer + b * gates, into: row, count: gates)
                    lstmStep(gates: row, cell: cState! + b * width, cellTanh: cellTanh!.pointer + (t * batch + b) * width,
                             hidden: h, width: width)
                case .gru:
                    let gh = hiddenProjection!.pointer + b * gates
                    VectorMath.add(gh, into: row, count: 2 * width)
                    VectorMath.sigmoid(row, row, count: 2 * width)
                    let hn = hiddenCandidate!.pointer + (t * batch + b) * width
                    for j in 0..<width {
                        hn[j] = gh[2 * width + j]
                        row[2 * width + j] += row[j] * hn[j]
                    }
                    VectorMath.tanh(row + 2 * width, row + 2 * width, count: width)
                    guard active else { break }
                    for j in 0..<width {
                        let z = row[width + j]
                        h[j] = (1 - z) * row[2 * width + j] + z * h[j]
                    }
                }
                if active {
                    if kind == .rnnTanh || kind == .rnnRelu { h.update(from: row, count: width) }
                    o.update(from: h, count: width)
                } else {
                    o.update(repeating: 0, count: width)
                }
            }
        }
    }

    var inputs = [input, hidden]
    if let cell { inputs.append(cell) }
    inputs += [weightIH, weightHH]
    if let biasIH { inputs.append(biasIH) }
    if let biasHH { inputs.append(biasHH) }
    let result = record(packed, op, inputs) { gradient in
        let upstream = gradient.contiguousValues()
        let g = gateValues.pointer
        // Every row is written below: gate gradients for active steps, zeros for padded ones.
        let gradGates = Tensor(uninitializedShape: [rows, gates])
        // GRU's hidden-side gate gradients differ from the input side's in the n-part (× r).
        let gradHiddenGates = kind == .gru ? Tensor(uninitializedShape: [rows, gates]) : gradGates
        let dh = Tensor(uninitializedShape: [batch, width])
        dh.pointer.update(from: upstream.pointer + outputCount, count: stateCount)
        let dc = kind == .lstm ? Tensor(uninitializedShape: [batch, width]) : nil
        if let dc { dc.pointer.update(from: upstream.pointer + outputCount + stateCount, count: stateCount) }
        let direct = TensorStorage(uninitializedCount: stateCount)
        let fromGates = TensorStorage(uninitializedCount: stateCount)
        let dOut = upstream.pointer
        // The weight gradients sum over all rows (steps × sequences): dW = dGᵀ·X. With dG only in
        // rows, oneDNN takes it transposed, and that product (512×6400·6400×128 in the LSTM
        // benchmark, a half on each thread) ran at 41–57 GFLOP/s per core against 67–75 with
        // both operands plain. So every step also copies its gate gradients, still in cache, into
        // a (gates × rows) layout, which also makes the bias gradients contiguous row sums.
        let byGateCount = rows * gates
        let gradGatesByGate = TransposedGateGradients(count: byGateCount)
        let gradHiddenGatesByGate = kind == .gru ? TransposedGateGradients(count: byGateCount) : gradGatesByGate

        recurrenceBlocks(batch: batch, threads: threads) { first, end, blockThreads in
            let blockStates = (end - first) * width
            let recurrence = path == .oneDNN && (end - first) * gates * width >= packedMinimumWork
                ? OneDNNPackedProduct(transposeA: false, transposeB: false, m: end - first, n: width, k: gates,
                                      lda: gates, wHH.pointer, ldb: width, beta: 0, ldc: width)
                : nil
            for (position, t) in processingOrder(steps, reverse: reverse).enumerated().reversed() {
                let dgt = gradGates.pointer + t * batch * gates
                let dght = gradHiddenGates.pointer + t * batch * gates
                for b in first..<end {
                    guard lengths.map({ t < $0[b] }) ?? true else {
                        (dgt + b * gates).update(repeating: 0, count: gates)
                        (dght + b * gates).update(repeating: 0, count: gates)
                        continue
                    }
                    let index = (t * batch + b) * width
                    let row = g + (t * batch + b) * gates
                    let dgRow = dgt + b * gates
                    let dhRow = dh.pointer + b * width
                    let directRow = direct.pointer + b * width
                    VectorMath.add(dOut + index, into: dhRow, count: width)
                    switch kind {
                    case .rnnTanh:
                        for j in 0..<width { dgRow[j] = dhRow[j] * (1 - row[j] * row[j]) }
                    case .rnnRelu:
                        for j in 0..<width { dgRow[j] = row[j] > 0 ? dhRow[j] : 0 }
                    case .lstm:
                        let dcRow = dc!.pointer + b * width
                        let tc = cellTanh!.pointer + index
                        let cPrev = cellBefore!.pointer + index
                        lstmStepBackward(gates: row, cellTanh: tc, cellBefore: cPrev, hiddenGradient: dhRow,
                                         cellGradient: dcRow, gateGradients: dgRow, width: width)
                    case .gru:
                        let dghRow = dght + b * gates
                        let hPrev = hiddenBefore.pointer + index
                        let hn = hiddenCandidate!.pointer + index
                        for j in 0..<width {
                            let (r, z, n) = (row[j], row[width + j], row[2 * width + j])
                            let dnPre = dhRow[j] * (1 - z) * (1 - n * n)
                            let dr = dnPre * hn[j] * r * (1 - r)
                            let dz = dhRow[j] * (hPrev[j] - n) * z * (1 - z)
                            dgRow[j] = dr
                            dgRow[width + j] = dz
                            dgRow[2 * width + j] = dnPre
                            dghRow[j] = dr
                            dghRow[width + j] = dz
                            dghRow[2 * width + j] = dnPre * r
                            directRow[j] = dhRow[j] * z
                        }
                    }
                }
                transposeBlock(dgt + first * gates, rows: end - first, columns: gates,
                               into: gradGatesByGate.pointer + t * batch + first, leadingDimension: rows)
                if kind == .gru {
                    transposeBlock(dght + first * gates, rows: end - first, columns: gates,
                                   into: gradHiddenGatesByGate.pointer + t * batch + first, leadingDimension: rows)
                }
                // dh for the previous step: through W_hh for active sequences; unchanged for the rest.
                if let recurrence {
                    recurrence.run(dght + first * gates, fromGates.pointer + first * width)
                } else {
                    sgemm(dght + first * gates, MatrixOperand(transpose: CblasNoTrans, leadingDimension: gates),
                          wHH.pointer, MatrixOperand(transpose: CblasNoTrans, leadingDimension: width),
                          fromGates.pointer + first * width, m: end - first, n: width, k: gates, threads: blockThreads,
                          path: path)
                }
                for b in first..<end where lengths.map({ t < $0[b] }) ?? true {
                    let dhRow = dh.pointer + b * width
                    let viaGates = fromGates.pointer + b * width
                    if kind == .gru {
                        let directRow = direct.pointer + b * width
                        for j in 0..<width { dhRow[j] = viaGates[j] + directRow[j] }
                    } else {
                        dhRow.update(from: viaGates, count: width)
                    }
                }
                if let truncation, position > 0, position % truncation == 0 {
                    // A chunk boundary: the state entering this step counts as a constant.
                    (dh.pointer + first * width).update(repeating: 0, count: blockStates)
                    (dc.map { $0.pointer + first * width })?.update(repeating: 0, count: blockStates)
                }
            }
        }

        var grads: [Tensor?] = []
        if input.requiresGrad {
            let dx = Tensor(uninitializedShape: input.shape)
            sgemm(gradGates.pointer, MatrixOperand(transpose: CblasNoTrans, leadingDimension: gates),
                  wIH.pointer, MatrixOperand(transpose: CblasNoTrans, leadingDimension: features),
                  dx.pointer, m: rows, n: features, k: gates, path: path)
            grads.append(dx)
        } else {
            grads.append(nil)
        }
        grads.append(dh)
        if cell != nil { grads.append(dc) }
        let dwIH = Tensor(uninitializedShape: [gates, features])
        sgemm(gradGatesByGate.pointer, MatrixOperand(transpose: CblasNoTrans, leadingDimension: rows),
              x.pointer, MatrixOperand(transpose: CblasNoTrans, leadingDimension: features),
              dwIH.pointer, m: gates, n: features, k: rows, path: path)
        let dwHH = Tensor(uninitializedShape: [gates, width])
        sgemm(gradHiddenGatesByGate.pointer, MatrixOperand(transpose: CblasNoTrans, leadingDimension: rows),
              hiddenBefore.pointer, MatrixOperand(transpose: CblasNoTrans, leadingDimension: width),
              dwHH.pointer, m: gates, n: width, k: rows, path: path)
        grads += [dwIH, dwHH]
        // Both biases enter every gate the same way except GRU's hidden-side n-part, so one sum
        // serves both; the second gets a copy, since gradients may be accumulated in place.
        let sharesGateGradients = gradHiddenGatesByGate === gradGatesByGate
        let inputBiasGradient = biasIH != nil || (biasHH != nil && sharesGateGradients)
            ? gradGatesByGate.rowSums(rows: gates, columns: rows) : nil
        if biasIH != nil { grads.append(inputBiasGradient) }
        if biasHH != nil {
            grads.append(
                sharesGateGradients
                    ? inputBiasGradient!.copy() : gradHiddenGatesByGate.rowSums(rows: gates, columns: rows))
        }
        return grads
    }

    let output = result.narrow(axis: 0, start: 0, length: outputCount).reshaped([steps, batch, width])
    let finalHidden = result.narrow(axis: 0, start: outputCount, length: stateCount).reshaped([batch, width])
    let finalCell = kind == .lstm
        ? result.narrow(axis: 0, start: outputCount + stateCount, length: stateCount).reshaped([batch, width]) : nil
    return RecurrentLayerOutput(output: output, hidden: finalHidden, cell: finalCell)
}

/// Runs `body(first, end, blockThreads)` on contiguous blocks of sequences, one block per thread,
/// each block's products on its own thread (`blockThreads` 1; OpenBLAS is held to one thread
/// meanwhile so the two levels of threading do not oversubscribe the cores). With one block, its
/// products get all `threads`. The blocks depend only on the batch size and the thread count, so
/// results are reproducible.
private func recurrenceBlocks(batch: Int, threads: Int, _ body: (Int, Int, Int) -> Void) {
    let blocks = min(threads, batch / minimumSequencesPerThread)
    guard blocks > 1 else {
        body(0, batch, threads)
        return
    }
    withSingleThreadedBLAS {
        parallelRanges(count: batch, grain: minimumSequencesPerThread, threads: threads) { body($0, $1, 1) }
    }
}

/// Below this many sequences per thread, a block's GEMMs are too thin to beat one shared GEMM.
private let minimumSequencesPerThread = 8

private func processingOrder(_ steps: Int, reverse: Bool) -> [Int] {
    reverse ? Array((0..<steps).reversed()) : Array(0..<steps)
}

/// Which kernels run the LSTM gate math: CGalenRuntime's AVX-512 or AVX2 + FMA ones (reciprocal
/// estimates instead of divisions, the exp polynomial inline) where the CPU has them, else the
/// portable Swift kernels below. On a 2-core AVX-512 machine the AVX-512 kernels took the gate
/// math from 28% of an LSTM training step's cycles to 10%; on a 2-core AVX2 machine (AMD EPYC)
/// the portable kernels took 13% (tanh and sigmoid as calls per vector, divisions) and the AVX2
/// ones 9%. (Masked loads and stores only for a tail: with every group masked, as the AVX-512
/// kernels do, the AVX2 ones were slower than the portable code there, since AMD's cores
/// microcode masked stores.)
enum LSTMGateKernelSet: Sendable {
    case avx512, avx2, portable

    static let best: LSTMGateKernelSet =
        galen_cpu_has_avx512() != 0 ? .avx512 : galen_cpu_has_avx2() != 0 ? .avx2 : .portable
}

/// One LSTM step of one sequence, in one pass over the hidden units: activates the gate
/// pre-activations `gates` (i, f, g, o blocks of `width`) in place, then c ← f ⊙ c + i ⊙ g,
/// `cellTanh` ← tanh(c), h ← o ⊙ tanh(c).
@inline(__always)
private func lstmStep(
    gates: UnsafeMutablePointer<Float>, cell: UnsafeMutablePointer<Float>, cellTanh: UnsafeMutablePointer<Float>,
    hidden: UnsafeMutablePointer<Float>, width: Int
) {
    switch LSTMGateKernelSet.best {
    case .avx512: galen_lstm_step_avx512(gates, cell, cellTanh, hidden, width)
    case .avx2: galen_lstm_step_avx2(gates, cell, cellTanh, hidden, width)
    case .portable: lstmStepPortable(gates: gates, cell: cell, cellTanh: cellTanh, hidden: hidden, width: width)
    }
}

/// `lstmStep` in Swift, eight units at a time (AVX2 with this project's flags); the scalar tail
/// computes the same.
func lstmStepPortable(
    gates: UnsafeMutablePointer<Float>, cell: UnsafeMutablePointer<Float>, cellTanh: UnsafeMutablePointer<Float>,
    hidden: UnsafeMutablePointer<Float>, width: Int
) {
    let (inputGate, forgetGate, candidate, outputGate) = (gates, gates + width, gates + 2 * width, gates + 3 * width)
    var j = 0
    while j + 8 <= width {
        let i = VectorMath.sigmoid(VectorMath.load(inputGate + j))
        let f = VectorMath.sigmoid(VectorMath.load(forgetGate + j))
        let g = VectorMath.tanh(VectorMath.load(candidate + j))
        let o = VectorMath.sigmoid(VectorMath.load(outputGate + j))
        let c = f * VectorMath.load(cell + j) + i * g
        let tc = VectorMath.tanh(c)
        VectorMath.store(i, inputGate + j)
        VectorMath.store(f, forgetGate + j)
        VectorMath.store(g, candidate + j)
        VectorMath.store(o, outputGate + j)
        VectorMath.store(c, cell + j)
        VectorMath.store(tc, cellTanh + j)
        VectorMath.store(o * tc, hidden + j)
        j += 8
    }
    while j < width {
        let i = 1 / (1 + Foundation.exp(-inputGate[j])), f = 1 / (1 + Foundation.exp(-forgetGate[j]))
        let g = Foundation.tanh(candidate[j]), o = 1 / (1 + Foundation.exp(-outputGate[j]))
        (inputGate[j], forgetGate[j], candidate[j], outputGate[j]) = (i, f, g, o)
        cell[j] = f * cell[j] + i * g
        cellTanh[j] = Foundation.tanh(cell[j])
        hidden[j] = o * cellTanh[j]
        j += 1
    }
}

/// The backward of `lstmStep` for one sequence: from the activated gates, tanh(c), the cell state
/// before the step and the gradients of h and c after it, writes the four gate gradients and
/// replaces the cell gradient with the one before the step.
@inline(__always)
private func lstmStepBackward(
    gates: UnsafePointer<Float>, cellTanh: UnsafePointer<Float>, cellBefore: UnsafePointer<Float>,
    hiddenGradient: UnsafePointer<Float>, cellGradient: UnsafeMutablePointer<Float>,
    gateGradients: UnsafeMutablePointer<Float>, width: Int
) {
    switch LSTMGateKernelSet.best {
    case .avx512:
        galen_lstm_step_backward_avx512(gates, cellTanh, cellBefore, hiddenGradient, cellGradient, gateGradients, width)
    case .avx2:
        galen_lstm_step_backward_avx2(gates, cellTanh, cellBefore, hiddenGradient, cellGradient, gateGradients, width)
    case .portable:
        lstmStepBackwardPortable(
            gates: gates, cellTanh: cellTanh, cellBefore: cellBefore, hiddenGradient: hiddenGradient,
            cellGradient: cellGradient, gateGradients: gateGradients, width: width)
    }
}

/// `lstmStepBackward` in Swift, eight units at a time.
func lstmStepBackwardPortable(
    gates: UnsafePointer<Float>, cellTanh: UnsafePointer<Float>, cellBefore: UnsafePointer<Float>,
    hiddenGradient: UnsafePointer<Float>, cellGradient: UnsafeMutablePointer<Float>,
    gateGradients: UnsafeMutablePointer<Float>, width: Int
) {
    var j = 0
    while j + 8 <= width {
        let i = VectorMath.load(gates + j), f = VectorMath.load(gates + width + j)
        let g = VectorMath.load(gates + 2 * width + j), o = VectorMath.load(gates + 3 * width + j)
        let tc = VectorMath.load(cellTanh + j), dh = VectorMath.load(hiddenGradient + j)
        let dc = VectorMath.load(cellGradient + j) + dh * o * (1 - tc * tc)
        VectorMath.store(dc * g * i * (1 - i), gateGradients + j)
        VectorMath.store(dc * VectorMath.load(cellBefore + j) * f * (1 - f), gateGradients + width + j)
        VectorMath.store(dc * i * (1 - g * g), gateGradients + 2 * width + j)
        VectorMath.store(dh * tc * o * (1 - o), gateGradients + 3 * width + j)
        VectorMath.store(dc * f, cellGradient + j)
        j += 8
    }
    while j < width {
        let (i, f, g, o) = (gates[j], gates[width + j], gates[2 * width + j], gates[3 * width + j])
        let dc = cellGradient[j] + hiddenGradient[j] * o * (1 - cellTanh[j] * cellTanh[j])
        gateGradients[j] = dc * g * i * (1 - i)
        gateGradients[width + j] = dc * cellBefore[j] * f * (1 - f)
        gateGradients[2 * width + j] = dc * i * (1 - g * g)
        gateGradients[3 * width + j] = hiddenGradient[j] * cellTanh[j] * o * (1 - o)
        cellGradient[j] = dc * f
        j += 1
    }
}

/// Adds up to two bias vectors to every row of a row-major (rows × columns) buffer.
private func addRowBias(
    _ buffer: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
    _ first: UnsafeMutablePointer<Float>?, _ second: UnsafeMutablePointer<Float>?
) {
    combinedBias(first, second, columns: columns)?.withUnsafeBufferPointer { bias in
        for r in 0..<rows { VectorMath.add(bias.baseAddress!, into: buffer + r * columns, count: columns) }
    }
}

/// The sum of up to two bias vectors; nil when there is neither.
private func combinedBias(
    _ first: UnsafeMutablePointer<Float>?, _ second: UnsafeMutablePointer<Float>?, columns: Int
) -> [Float]? {
    guard first != nil || second != nil else { return nil }
    return [Float](unsafeUninitializedCapacity: columns) { values, count in
        for j in 0..<columns { values[j] = (first?[j] ?? 0) + (second?[j] ?? 0) }
        count = columns
    }
}

/// The recurrent backward's gate gradients gate by gate, (gates × rows), in a buffer from
/// `allocateAligned` (13 MB in the LSTM benchmark: the large-buffer cache spares the page faults
/// a fresh one would take every step).
private final class TransposedGateGradients {
    let pointer: UnsafeMutablePointer<Float>
    private let bytes: Int

    init(count: Int) {
        bytes = count * MemoryLayout<Float>.stride
        pointer = allocateAligned(bytes).bindMemory(to: Float.self, capacity: count)
    }

    deinit { deallocateAligned(UnsafeMutableRawPointer(pointer), bytes: bytes) }

    /// The sum of each row, as a tensor of shape [rows]; each sum adds its row in order, so the
    /// result does not depend on the thread count.
    func rowSums(rows: Int, columns: Int) -> Tensor {
        let result = Tensor(uninitializedShape: [rows])
        let (source, target) = (pointer, result.pointer)
        parallelRanges(count: rows, grain: Swift.max(1, elementwiseGrain / Swift.max(columns, 1))) { start, end in
            for r in start..<end { target[r] = VectorMath.sum(source + r * columns, count: columns) }
        }
        return result
    }
}

/// Copies a row-major (rows × columns) block, transposed, into `target`: element (r, c) goes to
/// target[c · leadingDimension + r]. On AVX2 in 8×8 register tiles: the loop below, with one
/// scalar store per element, took 7% of the LSTM benchmark's cycles (AMD EPYC).
private func transposeBlock(
    _ source: UnsafePointer<Float>, rows: Int, columns: Int, into target: UnsafeMutablePointer<Float>,
    leadingDimension: Int
) {
    if LSTMGateKernelSet.best != .portable {
        return galen_transpose_avx2(source, rows, columns, target, leadingDimension)
    }
    transposeBlockPortable(source, rows: rows, columns: columns, into: target, leadingDimension: leadingDimension)
}

/// `transposeBlock` in Swift: eight columns at a time, so each source row is read in vectors.
func transposeBlockPortable(
    _ source: UnsafePointer<Float>, rows: Int, columns: Int, into target: UnsafeMutablePointer<Float>,
    leadingDimension: Int
) {
    var c = 0
    while c + 8 <= columns {
        for r in 0..<rows {
            let values = VectorMath.load(source + r * columns + c)
            for lane in 0..<8 { target[(c + lane) * leadingDimension + r] = values[lane] }
        }
        c += 8
    }
    while c < columns {
        for r in 0..<rows { target[c * leadingDimension + r] = source[r * columns + c] }
        c += 1
    }
}
