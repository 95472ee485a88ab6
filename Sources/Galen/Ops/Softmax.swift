import Foundation

// softmax, logSoftmax and logSumExp along one axis, computed stably (max subtracted first) in
// single fused passes over (outer, n, inner) views.

/// Visits every (outer, inner) lane of the axis with its base pointer and the element stride.
@inline(__always)
private func forEachLane(
    _ layout: ReductionLayout, _ body: (_ laneStart: Int, _ stride: Int) -> Void
) {
    let (outer, n, inner) = (layout.outer, layout.n, layout.inner)
    parallelRanges(count: outer * inner, grain: Swift.max(1, elementwiseGrain / Swift.max(n, 1))) { start, end in
        for lane in start..<end {
            let o = lane / inner
            let i = lane - o * inner
            body(o * n * inner + i, inner)
        }
    }
}

private enum SoftmaxForm { case probabilities, logProbabilities, logSumExp }

/// The shared stable kernel: per lane, m = max, s = Σ e^(x−m), then the requested form.
private func softmaxKernel(_ x: Tensor, axis: Int, form: SoftmaxForm, op: String) -> (Tensor, ReductionLayout) {
    let axis = Shape.normalize(axis: axis, rank: x.rank, op: op, shape: x.shape)
    let input = x.contiguousValues()
    defer { withExtendedLifetime(input) {} }
    let layout = ReductionLayout(shape: x.shape, axes: axis...axis)
    let n = layout.n
    let result = Tensor(uninitializedShape: form == .logSumExp ? layout.keptShape : x.shape)
    let source = input.pointer
    let out = result.pointer
    forEachLane(layout) { laneStart, stride in
        let lane = source + laneStart
        var maximum = -Float.infinity
        if stride == 1 {
            maximum = VectorMath.maximum(lane, count: n)
        } else {
            for k in 0..<n { maximum = Swift.max(maximum, lane[k * stride]) }
        }
        // A lane of all −∞ gives NaN in PyTorch too; keep m finite only when something is.
        let shift = maximum.isFinite ? maximum : 0
        switch form {
        case .probabilities:
            let target = out + laneStart
            var total: Float = 0
            if stride == 1 {
                target.update(from: lane, count: n)
                total = VectorMath.exponentiateShifted(target, shift: shift, count: n)
            } else {
                for k in 0..<n {
                    let e = Foundation.exp(lane[k * stride] - shift)
                    target[k * stride] = e
                    total += e
                }
            }
            let scale = 1 / total
            for k in 0..<n { target[k * stride] *= scale }
        case .logProbabilities:
            var total: Float = 0
            for k in 0..<n { total += Foundation.exp(lane[k * stride] - shift) }
            let logTotal = Foundation.log(total) + shift
            let target = out + laneStart
            for k in 0..<n { target[k * stride] = lane[k * stride] - logTotal }
        case .logSumExp:
            var total: Float = 0
            for k in 0..<n { total += Foundation.exp(lane[k * stride] - shift) }
            let o = laneStart / (n * stride)
            let i = laneStart - o * n * stride
            out[o * stride + i] = Foundation.log(total) + shift
        }
    }
    return (result, layout)
}

/// e^x normalized to sum to 1 along `axis`.
public func softmax(_ x: Tensor, axis: Int = -1) -> Tensor {
    let (result, _) = softmaxKernel(x, axis: axis, form: .probabilities, op: "softmax")
    // The closure keeps a detached view of the output, never the output itself: capturing the
    // output would make a reference cycle through its gradFunction, leaking every graph that is
    // built but never backpropagated.
    let y = result.detach()
    return record(result, "softmax", [x]) { g in
        // dx = y ⊙ (g − Σ g⊙y)
        [y * (g - (g * y).sum(axis: axis, keepDims: true))]
    }
}

/// log(softmax(x)) along `axis`, without forming the probabilities (no underflow to −∞).
public func logSoftmax(_ x: Tensor, axis: Int = -1) -> Tensor {
    let (result, _) = softmaxKernel(x, axis: axis, form: .logProbabilities, op: "logSoftmax")
    let saved = result.detach()
    return record(result, "logSoftmax", [x]) { g in
        // dx = g − softmax(x) ⊙ Σ g
        [g - saved.exp() * g.sum(axis: axis, keepDims: true)]
    }
}

/// log Σ e^x along `axis`.
public func logSumExp(_ x: Tensor, axis: Int = -1, keepDims: Bool = false) -> Tensor {
    let (kept, layout) = softmaxKernel(x, axis: axis, form: .logSumExp, op: "logSumExp")
    let normalizedAxis = Shape.normalize(axis: axis, rank: x.rank, op: "logSumExp", shape: x.shape)
    var shape = layout.keptShape
    if !keepDims { shape.remove(at: normalizedAxis) }
    let result = Tensor(storage: kept.storage, shape: shape)
    return record(result, "logSumExp", [x]) { g in
        let keptGradient = g.reshaped(layout.keptShape)
        return [keptGradient * (x - kept.detach()).exp()]
    }
}
