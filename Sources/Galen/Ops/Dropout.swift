// Dropout: zero each element with probability p during training and scale the survivors by
// 1/(1−p), so that evaluation needs no rescaling (inverted dropout, as PyTorch).

/// Dropout with drop probability `p`; the identity when `training` is false.
public func dropout(_ x: Tensor, p: Float, training: Bool = true, generator: Generator = .default) -> Tensor {
    check(p >= 0 && p <= 1, "dropout: probability \(p) is outside [0, 1]")
    if !training || p == 0 { return x }
    if p == 1 { return x * 0 }
    let scale = 1 / (1 - p)
    let mask = Tensor(uninitializedShape: x.shape)
    let m = mask.pointer
    generator.withStream { stream in
        for i in 0..<mask.count { m[i] = stream.nextFloat() < p ? 0 : scale }
    }
    let result = mapBinary(x, mask, MulKernel(), op: "dropout")
    return record(result, "dropout", [x]) { g in [g * mask] }
}
