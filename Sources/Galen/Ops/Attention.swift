import CBLAS
import Foundation

// Scaled dot-product attention (PyTorch's F.scaled_dot_product_attention) and its multi-head form.
//
// Each (batch, head) pair is a group with its own L×S score matrix. The products of every group —
// forward and backward — are BLAS calls on strided matrices read in place: heads are column blocks
// of the projected inputs (which may be one packed Q|K|V tensor, batch- or sequence-first), so
// nothing is split, permuted or copied out. Scale, mask, causal limit and softmax are one fused
// pass over each score row; the backward pass of the softmax is one more.

/// Which query–key pairs take part in attention, in one of PyTorch's three conventions.
public enum AttentionMask {
    /// Non-zero where the query may attend to the key (the bool mask of F.scaled_dot_product_attention).
    case allowed(IntTensor)
    /// Non-zero where attention is blocked (the bool masks of nn.MultiheadAttention and nn.Transformer).
    case blocked(IntTensor)
    /// Added to the scaled scores: 0 keeps a pair, −∞ blocks it, other values bias it (differentiable).
    case additive(Tensor)

    /// The mask's shape.
    public var shape: [Int] {
        switch self {
        case .allowed(let mask), .blocked(let mask): mask.shape
        case .additive(let mask): mask.shape
        }
    }

    /// The mask as values added to the scores (0 or −∞ for the boolean forms).
    public var additiveValues: Tensor {
        switch self {
        case .allowed(let mask): Tensor(mask.scalars.map { $0 != 0 ? 0 : -.infinity }, shape: mask.shape)
        case .blocked(let mask): Tensor(mask.scalars.map { $0 != 0 ? -.infinity : 0 }, shape: mask.shape)
        case .additive(let mask): mask
        }
    }

    /// Query i sees keys 0…i: −∞ above the diagonal (PyTorch's generate_square_subsequent_mask
    /// when queries == keys).
    public static func causal(queries: Int, keys: Int) -> AttentionMask {
        var values = [Float](repeating: 0, count: queries * keys)
        for i in 0..<queries {
            for j in (i + 1)..<max(keys, i + 1) { values[i * keys + j] = -.infinity }
        }
        return .additive(Tensor(values, shape: [queries, keys]))
    }
}

/// What a query row whose keys are all masked gives.
public enum FullyMaskedRows: Sendable {
    /// Weights and output 0: PyTorch 2.x's F.scaled_dot_product_attention.
    case zero
    /// NaN: a plain softmax over −∞, as nn.MultiheadAttention when it returns its weights.
    case nan
}

/// Columns of the last axis of a (batch…, sequence, features) tensor that hold one attention
/// operand, one consecutive block per head: e.g. the K part of a packed Q|K|V projection.
public struct AttentionInput {
    public let tensor: Tensor
    public let columns: Range<Int>

    public init(_ tensor: Tensor, columns: Range<Int>? = nil) {
        check(tensor.rank >= 2, "attention: an input must be (…, sequence, features), got shape \(tensor.shape)")
        let features = tensor.shape[tensor.rank - 1]
        let columns = columns ?? 0..<features
        check(
            columns.lowerBound >= 0 && columns.upperBound <= features,
            "attention: columns \(columns) lie outside the \(features) features of shape \(tensor.shape)")
        self.tensor = tensor
        self.columns = columns
    }
}

/// softmax(scale · Q·Kᵀ + mask) · V, PyTorch's `F.scaled_dot_product_attention`.
///
/// - Parameters:
///   - query: (…, L, E); key: (…, S, E); value: (…, S, Ev); leading axes broadcast.
///   - attentionMask: broadcastable to (…, L, S). PyTorch's bool mask is `.allowed`.
///   - isCausal: query i attends to keys 0…i (top-left aligned, as PyTorch); excludes a mask.
///   - dropoutP: dropout on the attention weights, applied when `training` (PyTorch applies any
///     dropout_p it is given, so `training` defaults to true).
///   - scale: defaults to 1/√E.
/// - Returns: (…, L, Ev). A query whose keys are all masked gets 0, as in PyTorch 2.x.
public func scaledDotProductAttention(
    query: Tensor, key: Tensor, value: Tensor, attentionMask: AttentionMask? = nil, isCausal: Bool = false,
    dropoutP: Float = 0, training: Bool = true, generator: Generator = .default, scale: Float? = nil
) -> Tensor {
    check(
        !(isCausal && attentionMask != nil),
        "scaledDotProductAttention: pass either an attention mask or isCausal, not both")
    // The multi-head form puts a head axis before (L, S); with one head it is a size-1 axis.
    let mask = attentionMask.map { mask in
        let values = mask.additiveValues
        return values.rank >= 2 ? values.unsqueezed(axis: values.rank - 2) : values
    }
    return multiHeadScaledDotProductAttention(
        query: AttentionInput(query), key: AttentionInput(key), value: AttentionInput(value), heads: 1,
        mask: mask, isCausal: isCausal, scale: scale, dropoutP: dropoutP, training: training,
        generator: generator, op: "scaledDotProductAttention"
    ).output
}

/// Scaled dot-product attention over `heads` column blocks of each input, the core of
/// nn.MultiheadAttention after its input projections.
///
/// - Parameters:
///   - query: (…, L, ·) with heads · D columns; key: (…, S, ·) with heads · D; value: (…, S, ·)
///     with heads · Dv. They may view the same packed tensor, and any strides.
///   - mask: added to the scores; broadcastable to (…, heads, L, S).
///   - needWeights: also return the attention weights (…, heads, L, S), after dropout as PyTorch;
///     they are differentiable. Without them the whole op is one graph node.
///   - fullyMaskedRows: what a query with all keys masked gets.
///   - sequenceFirstOutput: lay the (N, L, heads·Dv) output out in memory as (L, N, heads·Dv), so
///     that `output.permuted([1, 0, 2])` is contiguous (inputs of rank 3 only).
/// - Returns: (…, L, heads · Dv) and the weights if asked for.
public func multiHeadScaledDotProductAttention(
    query: AttentionInput, key: AttentionInput, value: AttentionInput, heads: Int, mask: Tensor? = nil,
    isCausal: Bool = false, scale: Float? = nil, dropoutP: Float = 0, training: Bool = true,
    generator: Generator = .default, needWeights: Bool = false, fullyMaskedRows: FullyMaskedRows = .zero,
    sequenceFirstOutput: Bool = false, op: String = "multiHeadScaledDotProductAttention"
) -> (output: Tensor, weights: Tensor?) {
    check(dropoutP >= 0 && dropoutP <= 1, "\(op): dropout probability \(dropoutP) is outside [0, 1]")
    let plan = AttentionPlan(
        query: query, key: key, value: value, heads: heads, mask: mask, isCausal: isCausal, scale: scale,
        fullyMaskedRows: fullyMaskedRows, sequenceFirstOutput: sequenceFirstOutput, op: op)
    let weights = plan.weights()
    let keep = training && dropoutP > 0 ? dropoutMultipliers(shape: weights.shape, p: dropoutP, generator: generator) : nil
    let dropped = keep.map { mapBinary(weights, $0, MulKernel(), op: op) } ?? weights
    let output = plan.combine(dropped)

    if needWeights {
        // Three graph nodes, so that a loss on the weights reaches Q and K. The first one's
        // backward reads the weights through a detached view: capturing the tensor it records
        // would make a reference cycle, and a graph never run backward would never be freed.
        let probabilities = weights.detach()
        let recordedWeights = record(weights, "attentionWeights", plan.scoreInputs) { g in
            let gradients = plan.zeroGradients(plan.scoreInputs)
            // The softmax backward works in place, on a copy of the incoming gradient.
            let logitsGradient = plan.scoresBackward(
                g.copy(), weights: probabilities, queryGradient: plan.gradient(of: plan.query, gradients, plan.scoreInputs),
                keyGradient: plan.gradient(of: plan.key, gradients, plan.scoreInputs))
            return plan.withMaskGradient(gradients, plan.scoreInputs, logitsGradient)
        }
        let recordedDropped = keep.map { recordedWeights * $0 } ?? recordedWeights
        let recordedOutput = record(output, "attentionCombine", [recordedDropped, plan.value]) { g in
            let valueGradient = plan.value.requiresGrad ? zeroGradient(like: plan.value) : nil
            let weightsGradient = plan.combineBackward(g, weights: dropped, valueGradient: valueGradient)
            return [weightsGradient, valueGradient]
        }
        return (recordedOutput, recordedDropped)
    }
    // One graph node: Q, K and V gradients land in one buffer when they share a tensor.
    let recordedOutput = record(output, "attention", plan.allInputs) { g in
        let inputs = plan.allInputs
        // A gradient that the products below write exactly once, element by element (a packed Q|K|V
        // tensor, or separate Q, K and V), need not be zeroed first: its products overwrite.
        let overwritten = inputs.map { plan.isWrittenOnceByProducts($0) }
        let gradients = plan.gradientBuffers(inputs, zeroed: overwritten.map { !$0 })
        func beta(_ x: Tensor) -> Float { overwritten[inputs.firstIndex(where: { $0 === x })!] ? 0 : 1 }
        let weightsGradient = plan.combineBackward(
            g, weights: dropped, valueGradient: plan.gradient(of: plan.value, gradients, inputs),
            valueBeta: beta(plan.value))
        if let keep { multiplyInPlace(weightsGradient, keep) }
        let logitsGradient = plan.scoresBackward(
            weightsGradient, weights: weights, queryGradient: plan.gradient(of: plan.query, gradients, inputs),
            keyGradient: plan.gradient(of: plan.key, gradients, inputs), queryBeta: beta(plan.query),
            keyBeta: beta(plan.key))
        return plan.withMaskGradient(gradients, inputs, logitsGradient)
    }
    return (recordedOutput, nil)
}

// MARK: - Plan

/// The (batch, head) matrices of one attention operand: group g = batch · heads + head starts
/// `offsets[g]` elements into the storage, its rows `leadingDimension` apart, its columns adjacent.
private struct HeadMatrices {
    let base: UnsafeMutablePointer<Float>
    let offsets: [Int]
    let leadingDimension: Int

    init(_ x: Tensor, firstColumn: Int, width: Int, heads: Int, batchShape: [Int]) {
        let rows = x.shape[x.rank - 2]
        base = x.storage.pointer + x.offset
        leadingDimension = rows > 1 ? x.strides[x.rank - 2] : Swift.max(x.shape[x.rank - 1], 1)
        offsets = batchOffsets(x, batchShape).flatMap { batch in
            (0..<heads).map { batch + firstColumn + $0 * width }
        }
    }

    @inline(__always) func matrix(_ group: Int) -> UnsafeMutablePointer<Float> { base + offsets[group] }

    /// Whether every group has its own matrix (no broadcast batch axis), so that groups may be
    /// written concurrently.
    var areDistinct: Bool { Set(offsets).count == offsets.count }
}

/// Whether BLAS can read the matrices of `x` in place: unit column stride, rows not overlapping.
private func isReadableInPlace(_ x: Tensor) -> Bool {
    let (rows, columns) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
    return (x.strides[x.rank - 1] == 1 || columns == 1) && (rows == 1 || x.strides[x.rank - 2] >= columns)
}

/// Whether the elements of `x` fill its storage span exactly once in some axis order (a
/// contiguous tensor, or a permuted view of one).
private func isDense(_ x: Tensor) -> Bool {
    let axes = (0..<x.rank).filter { x.shape[$0] > 1 }.sorted { x.strides[$0] > x.strides[$1] }
    var expected = 1
    for axis in axes.reversed() {
        if x.strides[axis] != expected { return false }
        expected *= x.shape[axis]
    }
    return true
}

/// A zeroed gradient for `x`, laid out like `x` when it is dense, so that the gradient of a
/// permuted view comes back contiguous after the permute's backward.
private func zeroGradient(like x: Tensor) -> Tensor {
    gradientBuffer(like: x, zeroed: true)
}

/// A gradient buffer for `x` laid out as `zeroGradient(like:)`, zeroed or left uninitialized.
private func gradientBuffer(like x: Tensor, zeroed: Bool) -> Tensor {
    let storage = zeroed ? TensorStorage(count: x.count, repeating: 0) : TensorStorage(uninitializedCount: x.count)
    return isDense(x) ? Tensor(storage: storage, shape: x.shape, strides: x.strides) : Tensor(storage: storage, shape: x.shape)
}

/// y ← y ⊙ m elementwise (contiguous, same shape).
private func multiplyInPlace(_ y: Tensor, _ m: Tensor) {
    let (target, factor) = (y.pointer, m.pointer)
    parallelRanges(count: y.count, grain: elementwiseGrain) { start, end in
        for i in start..<end { target[i] *= factor[i] }
    }
}

/// Inverted-dropout multipliers: 0 with probability p, else 1/(1−p), drawn in row-major order like `dropout`.
private func dropoutMultipliers(shape: [Int], p: Float, generator: Generator) -> Tensor {
    let mask = Tensor(uninitializedShape: shape)
    let scale = 1 / (1 - p)
    let m = mask.pointer
    generator.withStream { stream in
        for i in 0..<mask.count { m[i] = stream.nextFloat() < p ? 0 : scale }
    }
    return mask
}

/// Everything one attention call needs in forward and backward: the operands (made BLAS-readable),
/// their head matrices, the geometry and the mask rows. The backward closures capture it.
private final class AttentionPlan {
    let query: Tensor
    let key: Tensor
    let value: Tensor
    let mask: Tensor?
    let queryColumn: Int, keyColumn: Int, valueColumn: Int
    let batchShape: [Int]
    let heads: Int, groups: Int
    let queries: Int, keys: Int, depth: Int, valueDepth: Int
    let scale: Float
    let isCausal: Bool
    let fullyMaskedRows: FullyMaskedRows
    let sequenceFirstOutput: Bool
    let op: String
    /// Storage offset of each score row's mask row (groups · queries of them) and the mask's
    /// stride along keys (0 when it broadcasts).
    let maskRowOffsets: [Int]
    let maskStride: Int
    /// The distinct tensors that Q and K (and the mask, when differentiable) come from.
    let scoreInputs: [Tensor]
    /// scoreInputs plus V's tensor when it is another one.
    let allInputs: [Tensor]

    init(
        query: AttentionInput, key: AttentionInput, value: AttentionInput, heads: Int, mask: Tensor?,
        isCausal: Bool, scale: Float?, fullyMaskedRows: FullyMaskedRows, sequenceFirstOutput: Bool, op: String
    ) {
        let describe = "query \(query.tensor.shape), key \(key.tensor.shape), value \(value.tensor.shape)"
        check(heads > 0, "\(op): heads must be positive, got \(heads)")
        check(
            query.columns.count == key.columns.count && query.columns.count % heads == 0
                && value.columns.count % heads == 0,
            "\(op): \(query.columns.count) query, \(key.columns.count) key and \(value.columns.count) value features do not split into \(heads) heads (\(describe))")
        let (q, k, v) = (query.tensor, key.tensor, value.tensor)
        check(
            k.shape[k.rank - 2] == v.shape[v.rank - 2],
            "\(op): key and value have different sequence lengths (\(describe))")
        batchShape = Shape.broadcast(
            Shape.broadcast(Array(q.shape.dropLast(2)), Array(k.shape.dropLast(2)), op: op),
            Array(v.shape.dropLast(2)), op: op)
        check(
            !sequenceFirstOutput || batchShape.count == 1,
            "\(op): a sequence-first output needs (N, L, E) inputs (\(describe))")
        // Operands BLAS cannot read in place (a transposed feature axis) are copied, in the graph.
        self.query = isReadableInPlace(q) ? q : q.contiguous()
        self.key = k === q ? self.query : (isReadableInPlace(k) ? k : k.contiguous())
        self.value = v === q ? self.query : (v === k ? self.key : (isReadableInPlace(v) ? v : v.contiguous()))
        (queryColumn, keyColumn, valueColumn) = (query.columns.lowerBound, key.columns.lowerBound, value.columns.lowerBound)
        self.heads = heads
        groups = Shape.count(batchShape) * heads
        queries = q.shape[q.rank - 2]
        keys = k.shape[k.rank - 2]
        depth = query.columns.count / heads
        valueDepth = value.columns.count / heads
        self.scale = scale ?? 1 / Float(Swift.max(depth, 1)).squareRoot()
        self.isCausal = isCausal
        self.fullyMaskedRows = fullyMaskedRows
        self.sequenceFirstOutput = sequenceFirstOutput
        self.op = op

        let scoresShape = batchShape + [heads, queries, keys]
        if let mask {
            check(
                Shape.broadcast(mask.shape, scoresShape, op: op) == scoresShape,
                "\(op): mask \(mask.shape) does not broadcast to the scores \(scoresShape) (\(describe))")
            let view = mask.detach().expanded(to: scoresShape)
            var offsets: [Int] = []
            offsets.reserveCapacity(groups * queries)
            forEachRun(shape: view.shape, strides: view.strides, offset: view.offset) { start, _ in offsets.append(start) }
            maskRowOffsets = offsets
            maskStride = view.strides[view.rank - 1]
        } else {
            maskRowOffsets = []
            maskStride = 0
        }
        self.mask = mask

        var inputs: [Tensor] = []
        for t in [self.query, self.key] where !inputs.contains(where: { $0 === t }) { inputs.append(t) }
        if let mask, mask.requiresGrad { inputs.append(mask) }
        scoreInputs = inputs
        let valueTensor = self.value
        if !inputs.contains(where: { $0 === valueTensor }) { inputs.append(valueTensor) }
        allInputs = inputs
    }

    func queryMatrices(_ x: Tensor) -> HeadMatrices {
        HeadMatrices(x, firstColumn: queryColumn, width: depth, heads: heads, batchShape: batchShape)
    }
    func keyMatrices(_ x: Tensor) -> HeadMatrices {
        HeadMatrices(x, firstColumn: keyColumn, width: depth, heads: heads, batchShape: batchShape)
    }
    func valueMatrices(_ x: Tensor) -> HeadMatrices {
        HeadMatrices(x, firstColumn: valueColumn, width: valueDepth, heads: heads, batchShape: batchShape)
    }
    func outputMatrices(_ x: Tensor) -> HeadMatrices {
        HeadMatrices(x, firstColumn: 0, width: valueDepth, heads: heads, batchShape: batchShape)
    }

    /// Runs `product(g)` for every group. OpenBLAS runs a product below its threading threshold
    /// (m·n·k < 2¹⁸) on one core, so such products are spread over the threads instead — when no
    /// two groups write the same matrix; otherwise they run in order and BLAS threads each.
    func forEachGroup(work: Int, distinctTargets: Bool = true, _ product: (_ group: Int, _ threads: Int) -> Void) {
        if distinctTargets && work < 1 << 18 && groups > 1 {
            // Groups in parallel, each product on the one thread that runs it.
            parallelRanges(count: groups, grain: 1) { start, end in
                for g in start..<end { product(g, 1) }
            }
        } else {
            for g in 0..<groups { product(g, Threads.count) }
        }
    }

    /// Row grain for the row kernels: enough rows to be worth a thread.
    var rowGrain: Int { Swift.max(1, elementwiseGrain / Swift.max(keys, 1)) }

    // MARK: Forward

    /// softmax(scale · Q·Kᵀ + mask) with the causal limit: (…, heads, L, S), contiguous.
    func weights() -> Tensor {
        let result = Tensor(uninitializedShape: batchShape + [heads, queries, keys])
        let p = result.pointer
        let (l, s, d) = (queries, keys, depth)
        if l * s == 0 { return result }
        withExtendedLifetime((query, key)) {
            let (q, k) = (queryMatrices(query), keyMatrices(key))
            forEachGroup(work: l * s * d) { g, threads in
                gemm(false, true, m: l, n: s, k: d, alpha: scale, q.matrix(g), q.leadingDimension,
                     k.matrix(g), k.leadingDimension, beta: 0, p + g * l * s, s, threads: threads)
            }
        }
        let maskBase = mask.map { UnsafePointer($0.storage.pointer) }
        let (maskOffsets, maskStride, causal, nanRows) = (maskRowOffsets, maskStride, isCausal, fullyMaskedRows == .nan)
        withExtendedLifetime(mask) {
            parallelRanges(count: groups * l, grain: rowGrain) { start, end in
                for row in start..<end {
                    let z = p + row * s
                    let limit = causal ? Swift.min(row % l + 1, s) : s
                    if let maskBase {
                        let m = maskBase + maskOffsets[row]
                        if maskStride == 1 {
                            for j in 0..<limit { z[j] += m[j] }
                        } else {
                            for j in 0..<limit { z[j] += m[j * maskStride] }
                        }
                    }
                    let maximum = VectorMath.maximum(z, count: limit)
                    if maximum == -.infinity {
                        z.update(repeating: nanRows ? .nan : 0, count: s)
                        continue
                    }
                    let total = VectorMath.exponentiateShifted(z, shift: maximum, count: limit)
                    let reciprocal = 1 / total
                    for j in 0..<limit { z[j] *= reciprocal }
                    if limit < s { (z + limit).update(repeating: 0, count: s - limit) }
                }
            }
        }
        return result
    }

    /// weights · V per group: (…, L, heads · Dv), heads side by side.
    func combine(_ weights: Tensor) -> Tensor {
        let width = heads * valueDepth
        let result: Tensor
        if sequenceFirstOutput {
            let batch = batchShape[0]
            result = Tensor(
                storage: TensorStorage(uninitializedCount: batch * queries * width), shape: [batch, queries, width],
                strides: [width, batch * width, 1])
        } else {
            result = Tensor(uninitializedShape: batchShape + [queries, width])
        }
        let (l, s, dv) = (queries, keys, valueDepth)
        if l * dv == 0 { return result }
        if s == 0 {
            result.storage.pointer.update(repeating: 0, count: result.count)
            return result
        }
        let p = weights.pointer
        withExtendedLifetime(value) {
            let (v, out) = (valueMatrices(value), outputMatrices(result))
            forEachGroup(work: l * dv * s) { g, threads in
                gemm(false, false, m: l, n: dv, k: s, alpha: 1, p + g * l * s, s, v.matrix(g), v.leadingDimension,
                     beta: 0, out.matrix(g), out.leadingDimension, threads: threads)
            }
        }
        return result
    }

    // MARK: Backward

    /// A zeroed gradient for each input that requires one.
    func zeroGradients(_ inputs: [Tensor]) -> [Tensor?] {
        inputs.map { $0.requiresGrad ? zeroGradient(like: $0) : nil }
    }

    /// A gradient for each input that requires one, zeroed where `zeroed` says so.
    func gradientBuffers(_ inputs: [Tensor], zeroed: [Bool]) -> [Tensor?] {
        zip(inputs, zeroed).map { x, zeroed in x.requiresGrad ? gradientBuffer(like: x, zeroed: zeroed) : nil }
    }

    /// Whether the Q, K and V gradient products together write every element of `x`'s gradient
    /// exactly once: `x` is dense, has its own matrix for every (batch, head) group (no broadcast
    /// batch axis), and the column blocks it serves as Q, K and V tile its features without
    /// overlapping.
    func isWrittenOnceByProducts(_ x: Tensor) -> Bool {
        // Empty products return before writing anything.
        guard x.requiresGrad, x !== mask, queries * keys * depth * valueDepth > 0, isDense(x),
            Array(x.shape.dropLast(2)) == batchShape
        else { return false }
        var blocks: [Range<Int>] = []
        if x === query { blocks.append(queryColumn..<(queryColumn + heads * depth)) }
        if x === key { blocks.append(keyColumn..<(keyColumn + heads * depth)) }
        if x === value { blocks.append(valueColumn..<(valueColumn + heads * valueDepth)) }
        var next = 0
        for block in blocks.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            guard block.lowerBound == next else { return false }
            next = block.upperBound
        }
        return next == x.shape[x.rank - 1]
    }

    /// The gradient buffer of `x` among `inputs`.
    func gradient(of x: Tensor, _ gradients: [Tensor?], _ inputs: [Tensor]) -> Tensor? {
        inputs.firstIndex(where: { $0 === x }).flatMap { gradients[$0] }
    }

    /// `gradients` with the mask's filled in from d(logits), when the mask is differentiable.
    func withMaskGradient(_ gradients: [Tensor?], _ inputs: [Tensor], _ logitsGradient: Tensor) -> [Tensor?] {
        guard let mask, mask.requiresGrad, let index = inputs.firstIndex(where: { $0 === mask }) else { return gradients }
        var result = gradients
        result[index] = logitsGradient.sumToShape(mask.shape)
        return result
    }

    /// From d(output): returns d(weights) (a new contiguous tensor) and adds d(value) into
    /// `valueGradient` (or, with `valueBeta` 0, writes it there).
    func combineBackward(_ outputGradient: Tensor, weights: Tensor, valueGradient: Tensor?, valueBeta: Float = 1) -> Tensor {
        let g = isReadableInPlace(outputGradient) ? outputGradient : outputGradient.contiguousValues()
        let weightsGradient = Tensor(uninitializedShape: weights.shape)
        let (l, s, dv) = (queries, keys, valueDepth)
        if weights.count == 0 { return weightsGradient }
        if dv == 0 {
            weightsGradient.pointer.update(repeating: 0, count: weightsGradient.count)
            return weightsGradient
        }
        let (p, dp) = (weights.pointer, weightsGradient.pointer)
        withExtendedLifetime((g, value, weights, valueGradient)) {
            let (dOut, v) = (outputMatrices(g), valueMatrices(value))
            forEachGroup(work: l * s * dv) { group, threads in
                // dP = dOut · Vᵀ
                gemm(false, true, m: l, n: s, k: dv, alpha: 1, dOut.matrix(group), dOut.leadingDimension,
                     v.matrix(group), v.leadingDimension, beta: 0, dp + group * l * s, s, threads: threads)
            }
            if let valueGradient {
                let dV = valueMatrices(valueGradient)
                forEachGroup(work: s * dv * l, distinctTargets: dV.areDistinct) { group, threads in
                    // dV += Pᵀ · dOut (accumulated: groups may share a broadcast V block)
                    gemm(true, false, m: s, n: dv, k: l, alpha: 1, p + group * l * s, s,
                         dOut.matrix(group), dOut.leadingDimension, beta: valueBeta, dV.matrix(group), dV.leadingDimension,
                         threads: threads)
                }
            }
        }
        return weightsGradient
    }

    /// From d(weights), which it overwrites with d(logits) and returns: adds d(query) and d(key)
    /// into the given buffers (or, with beta 0, writes them there).
    func scoresBackward(
        _ weightsGradient: Tensor, weights: Tensor, queryGradient: Tensor?, keyGradient: Tensor?, queryBeta: Float = 1,
        keyBeta: Float = 1
    ) -> Tensor {
        let (l, s, d) = (queries, keys, depth)
        let (p, dz) = (weights.pointer, weightsGradient.pointer)
        // dZ = P ⊙ (dP − Σ dP ⊙ P) per row: the softmax backward (the scale comes in the products).
        parallelRanges(count: groups * l, grain: rowGrain) { start, end in
            for row in start..<end {
                let (y, gy) = (p + row * s, dz + row * s)
                let dot = VectorMath.dot(gy, y, count: s)
                for j in 0..<s { gy[j] = y[j] * (gy[j] - dot) }
            }
        }
        guard l * s * d > 0 else { return weightsGradient }
        withExtendedLifetime((query, key, weights, queryGradient, keyGradient)) {
            let (q, k) = (queryMatrices(query), keyMatrices(key))
            if let queryGradient {
                let dQ = queryMatrices(queryGradient)
                forEachGroup(work: l * d * s, distinctTargets: dQ.areDistinct) { g, threads in
                    // dQ += scale · dZ · K
                    gemm(false, false, m: l, n: d, k: s, alpha: scale, dz + g * l * s, s,
                         k.matrix(g), k.leadingDimension, beta: queryBeta, dQ.matrix(g), dQ.leadingDimension,
                         threads: threads)
                }
            }
            if let keyGradient {
                let dK = keyMatrices(keyGradient)
                forEachGroup(work: s * d * l, distinctTargets: dK.areDistinct) { g, threads in
                    // dK += scale · dZᵀ · Q
                    gemm(true, false, m: s, n: d, k: l, alpha: scale, dz + g * l * s, s,
                         q.matrix(g), q.leadingDimension, beta: keyBeta, dK.matrix(g), dK.leadingDimension,
                         threads: threads)
                }
            }
        }
        return weightsGradient
    }
}
