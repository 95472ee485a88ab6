import Foundation
import Galen

/// Scales the gradients of `parameters` in place so that their combined norm is at most
/// `maxNorm`, and returns the combined norm before scaling (PyTorch's `clip_grad_norm_`).
///
/// The norm is that of the vector of per-tensor `normType`-norms (`.infinity` for the largest
/// magnitude). As in PyTorch, every gradient is multiplied by
/// min(1, maxNorm / (totalNorm + 1e-6)); a non-finite norm is returned, and makes the gradients
/// non-finite, so that the caller can skip the step. Parameters without a gradient are ignored.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Float, normType: Float = 2) -> Float {
    check(maxNorm >= 0, "clipGradNorm: maxNorm must be non-negative, got \(maxNorm)")
    check(normType > 0, "clipGradNorm: normType must be positive or .infinity, got \(normType)")
    let gradients = parameters.compactMap(\.grad)
    if gradients.isEmpty { return 0 }
    let norms = gradients.map { vectorNorm($0, normType) }
    let totalNorm = vectorNorm(norms, normType)
    // float32 arithmetic, as PyTorch does on the float32 norm tensor.
    let coefficient = Swift.min(maxNorm / (totalNorm + 1e-6), 1)
    for gradient in gradients {
        withExtendedLifetime(gradient) {
            let g = gradient.mutableValues
            forEachRange(count: gradient.count) { start, end in
                for i in start..<end { g[i] = g[i] * coefficient }
            }
        }
    }
    return totalNorm
}

/// Clamps every gradient element of `parameters` into [−clipValue, clipValue] in place
/// (PyTorch's `clip_grad_value_`). Parameters without a gradient are ignored.
public func clipGradValue(_ parameters: [Tensor], clipValue: Float) {
    check(clipValue >= 0, "clipGradValue: clipValue must be non-negative, got \(clipValue)")
    for gradient in parameters.compactMap(\.grad) {
        withExtendedLifetime(gradient) {
            let g = gradient.mutableValues
            forEachRange(count: gradient.count) { start, end in
                for i in start..<end { g[i] = Swift.min(Swift.max(g[i], -clipValue), clipValue) }
            }
        }
    }
}

/// The `p`-norm of a tensor's elements, accumulated in double precision.
private func vectorNorm(_ tensor: Tensor, _ p: Float) -> Float {
    let values = tensor.contiguousDetached
    return withExtendedLifetime(values) {
        vectorNorm(UnsafeBufferPointer(start: values.mutableValues, count: values.count), p)
    }
}

private func vectorNorm<Values: Collection<Float>>(_ values: Values, _ p: Float) -> Float {
    if p == .infinity {
        // NaN propagates (Swift.max would drop it), so a broken gradient shows in the norm.
        return values.reduce(0) { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, Swift.abs($1)) }
    }
    var sum = 0.0
    if p == 2 {
        for x in values { sum += Double(x) * Double(x) }
        return Float(sum.squareRoot())
    }
    if p == 1 {
        for x in values { sum += Double(Swift.abs(x)) }
        return Float(sum)
    }
    let exponent = Double(p)
    for x in values { sum += Foundation.pow(Double(Swift.abs(x)), exponent) }
    return Float(Foundation.pow(sum, 1 / exponent))
}
