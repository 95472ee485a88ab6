import Dispatch
import Galen

// Raw-buffer helpers shared by the optimizer update loops.

extension Tensor {
    /// The first element of a contiguous tensor, for in-place update loops. The caller keeps the
    /// tensor alive while it uses the pointer.
    var mutableValues: UnsafeMutablePointer<Float> {
        check(isContiguous, "GalenOptim: tensor of shape \(shape) must be contiguous to update in place")
        return storage.pointer + offset
    }

    /// This tensor if contiguous, otherwise a contiguous copy; records nothing.
    var contiguousDetached: Tensor {
        isContiguous ? self : copy()
    }
}

/// Runs `body(start, end)` over disjoint ranges covering 0..<count, split across threads only for
/// large tensors. The updates are elementwise, so the split never changes the result.
@inline(__always)
func forEachRange(count: Int, _ body: (Int, Int) -> Void) {
    parallelRanges(count: count, grain: 1 << 16, body)
}

/// PyTorch's `lerp`: `start + weight·(end − start)`, with the form that loses less precision for
/// weights of 0.5 and above (what `exp_avg.lerp_(grad, 1 − β)` computes).
@inline(__always)
func lerp(_ start: Float, _ end: Float, _ weight: Float) -> Float {
    Swift.abs(weight) < 0.5 ? start + weight * (end - start) : end - (end - start) * (1 - weight)
}
