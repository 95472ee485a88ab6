import Foundation
import Galen

// Loss functions with PyTorch's torch.nn.functional semantics, built from the core's checked
// differentiable ops (so their gradients are those of the primitives).

/// How per-element losses are combined.
public enum Reduction: String, Sendable {
    /// The mean over elements (or the weight-normalized mean where class weights apply).
    case mean
    /// The sum over elements.
    case sum
    /// No reduction: one loss per element.
    case none
}

private func reduce(_ loss: Tensor, _ reduction: Reduction) -> Tensor {
    switch reduction {
    case .mean: loss.mean()
    case .sum: loss.sum()
    case .none: loss
    }
}

/// Moves the class axis (1) of (N, C, d…) last and flattens: (N·d…, C); labels likewise.
private func flattenClasses(_ input: Tensor, _ labels: IntTensor, op: String) -> (Tensor, [Int], [Int]) {
    check(input.rank >= 1, "\(op): input must be (N, C, …) or (C), got \(input.shape)")
    if input.rank == 1 {
        check(labels.count == 1, "\(op): unbatched input \(input.shape) needs one label, got \(labels.shape)")
        return (input.reshaped([1, input.shape[0]]), labels.scalars, [])
    }
    let classes = input.shape[1]
    var expected = input.shape
    expected.remove(at: 1)
    check(labels.shape == expected, "\(op): labels \(labels.shape) do not match input \(input.shape) (expected \(expected))")
    var order = [0] + Array(2..<input.rank)
    order.append(1)
    let flat = input.rank == 2 ? input : input.permuted(order).reshaped([-1, classes])
    return (flat, labels.scalars, expected)
}

/// The negative log-likelihood of `labels` under log-probabilities (N, C, d…) (PyTorch's
/// `F.nll_loss`). Labels equal to `ignoreIndex` contribute nothing; with class `weight`s the mean
/// divides by the summed weights of the counted labels.
public func nllLoss(
    logProbabilities: Tensor, labels: IntTensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
    reduction: Reduction = .mean
) -> Tensor {
    let (flat, targets, keptShape) = flattenClasses(logProbabilities, labels, op: "nllLoss")
    let classes = flat.shape[1]
    if let weight { check(weight.shape == [classes], "nllLoss: weight \(weight.shape) does not match \(classes) classes") }
    let classWeights = weight?.scalars
    var safeTargets = [Int](repeating: 0, count: targets.count)
    var sampleWeights = [Float](repeating: 0, count: targets.count)
    for (i, label) in targets.enumerated() where label != ignoreIndex {
        check(label >= 0 && label < classes, "nllLoss: label \(label) is outside 0..<\(classes)")
        safeTargets[i] = label
        sampleWeights[i] = classWeights?[label] ?? 1
    }
    let picked = flat.gather(axis: 1, index: IntTensor(safeTargets, shape: [targets.count, 1])).reshaped([targets.count])
    let losses = -picked * Tensor(sampleWeights)
    switch reduction {
    case .none: return losses.reshaped(keptShape)
    case .sum: return losses.sum()
    case .mean: return losses.sum() / sampleWeights.reduce(0, +)
    }
}

/// Cross-entropy between logits (N, C, d…) and integer labels (PyTorch's `F.cross_entropy`),
/// with class weights, an ignored label value and label smoothing ε (the target becomes
/// (1−ε)·one-hot + ε/C).
public func crossEntropy(
    logits: Tensor, labels: IntTensor, weight: Tensor? = nil, ignoreIndex: Int = -100, labelSmoothing: Float = 0,
    reduction: Reduction = .mean
) -> Tensor {
    check(labelSmoothing >= 0 && labelSmoothing <= 1, "crossEntropy: labelSmoothing \(labelSmoothing) is outside [0, 1]")
    let logProbabilities = logSoftmax(logits, axis: logits.rank == 1 ? 0 : 1)
    let nll = nllLoss(logProbabilities: logProbabilities, labels: labels, weight: weight, ignoreIndex: ignoreIndex, reduction: reduction)
    guard labelSmoothing > 0 else { return nll }
    // PyTorch's smoothing term: −Σ_c w_c·log p_c per sample, ignored samples zeroed, and for
    // .mean divided by the same normalizer as the NLL term.
    let (flat, targets, keptShape) = flattenClasses(logProbabilities, labels, op: "crossEntropy")
    let classes = flat.shape[1]
    let weighted = weight.map { flat * $0 } ?? flat
    let keep = Tensor(targets.map { $0 == ignoreIndex ? 0 : 1 })
    let smooth = -weighted.sum(axis: 1) * keep
    let smoothReduced: Tensor
    switch reduction {
    case .none: smoothReduced = smooth.reshaped(keptShape)
    case .sum: smoothReduced = smooth.sum()
    case .mean:
        let classWeights = weight?.scalars
        let normalizer = targets.filter { $0 != ignoreIndex }.reduce(Float(0)) { $0 + (classWeights?[$1] ?? 1) }
        smoothReduced = smooth.sum() / normalizer
    }
    return nll * (1 - labelSmoothing) + smoothReduced * (labelSmoothing / Float(classes))
}

/// Binary cross-entropy on probabilities in [0, 1] (PyTorch's `F.binary_cross_entropy`); the logs
/// are clamped at −100 as in PyTorch, so p = 0 or 1 gives a finite loss.
public func binaryCrossEntropy(
    probabilities: Tensor, targets: Tensor, weight: Tensor? = nil, reduction: Reduction = .mean
) -> Tensor {
    check(probabilities.shape == targets.shape,
          "binaryCrossEntropy: probabilities \(probabilities.shape) and targets \(targets.shape) differ")
    let logP = probabilities.log().clamp(min: -100)
    let logNotP = (1 - probabilities).log().clamp(min: -100)
    var loss = -(targets * logP + (1 - targets) * logNotP)
    if let weight { loss = loss * weight }
    return reduce(loss, reduction)
}

/// Binary cross-entropy on logits, computed stably (PyTorch's
/// `F.binary_cross_entropy_with_logits`): `posWeight` (per class, broadcast over the last axis)
/// scales the positive term, for imbalanced labels.
public func binaryCrossEntropyWithLogits(
    logits: Tensor, targets: Tensor, weight: Tensor? = nil, posWeight: Tensor? = nil, reduction: Reduction = .mean
) -> Tensor {
    check(logits.shape == targets.shape,
          "binaryCrossEntropyWithLogits: logits \(logits.shape) and targets \(targets.shape) differ")
    // (1 − t)·x + (1 + (pw − 1)·t)·log(1 + e^−x), with log(1 + e^−x) = softplus(−x).
    var loss: Tensor
    if let posWeight {
        let logWeight = (posWeight - 1) * targets + 1
        loss = (1 - targets) * logits + logWeight * softplus(-logits)
    } else {
        loss = (1 - targets) * logits + softplus(-logits)
    }
    if let weight { loss = loss * weight }
    return reduce(loss, reduction)
}

/// Mean squared error.
public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    check(input.shape == target.shape, "mseLoss: input \(input.shape) and target \(target.shape) differ")
    return reduce((input - target).square(), reduction)
}

/// Mean absolute error.
public func l1Loss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    check(input.shape == target.shape, "l1Loss: input \(input.shape) and target \(target.shape) differ")
    return reduce((input - target).abs(), reduction)
}

/// Smooth L1: 0.5·d²/β where |d| < β, else |d| − 0.5·β (PyTorch's `F.smooth_l1_loss`).
public func smoothL1Loss(_ input: Tensor, _ target: Tensor, beta: Float = 1, reduction: Reduction = .mean) -> Tensor {
    check(input.shape == target.shape, "smoothL1Loss: input \(input.shape) and target \(target.shape) differ")
    check(beta >= 0, "smoothL1Loss: beta \(beta) must not be negative")
    if beta == 0 { return l1Loss(input, target, reduction: reduction) }
    let difference = (input - target).abs()
    let loss = Galen.where(difference .< beta, difference.square() * (0.5 / beta), difference - 0.5 * beta)
    return reduce(loss, reduction)
}

/// Huber: 0.5·d² where |d| < δ, else δ·(|d| − 0.5·δ) (PyTorch's `F.huber_loss`).
public func huberLoss(_ input: Tensor, _ target: Tensor, delta: Float = 1, reduction: Reduction = .mean) -> Tensor {
    check(input.shape == target.shape, "huberLoss: input \(input.shape) and target \(target.shape) differ")
    let difference = (input - target).abs()
    let loss = Galen.where(difference .< delta, difference.square() * 0.5, (difference - 0.5 * delta) * delta)
    return reduce(loss, reduction)
}

/// How `klDivergence` reduces.
public enum KLReduction: String, Sendable {
    case mean, sum, none
    /// The sum divided by the batch size: the mathematically correct KL per sample.
    case batchMean
}

/// KL(target ‖ input) with `input` as log-probabilities (PyTorch's `F.kl_div`): pointwise
/// target·(log target − input), taken as 0 where target is 0; with `logTarget` the target is
/// given as log-probabilities too.
public func klDivergence(
    input: Tensor, target: Tensor, reduction: KLReduction = .mean, logTarget: Bool = false
) -> Tensor {
    check(input.shape == target.shape, "klDivergence: input \(input.shape) and target \(target.shape) differ")
    let pointwise: Tensor
    if logTarget {
        pointwise = target.exp() * (target - input)
    } else {
        // xlogy: 0·log 0 = 0; the clamp only keeps log finite where the mask zeroes the term anyway.
        let positive = target .> 0
        let logTargetValues = Galen.where(positive, target, Tensor.ones([])).log()
        pointwise = Galen.where(positive, target * (logTargetValues - input), Tensor.zeros([]) * input)
    }
    switch reduction {
    case .mean: return pointwise.mean()
    case .sum: return pointwise.sum()
    case .none: return pointwise
    case .batchMean: return pointwise.sum() / Float(input.rank > 0 ? input.shape[0] : 1)
    }
}

/// Soft Dice loss for segmentation (as MONAI's DiceLoss), averaged over samples and classes:
/// 1 − (2·Σ p·t + smooth) / (Σ p + Σ t + smooth) per (sample, class), sums over spatial axes.
///
/// - Parameters:
///   - prediction: (N, C, spatial…) logits when `activation` is `.softmax`/`.sigmoid`, or
///     probabilities with `.none`.
///   - target: one-hot (or soft) masks of the same shape.
///   - includeBackground: when false, class 0 is left out (multi-class masks).
///   - smooth: added to numerator and denominator. Empty-mask policy: when a class is absent from
///     both prediction and target the ratio is smooth/smooth = 1, i.e. loss 0 (a correct empty
///     prediction is perfect); when it is absent from the target only, the loss approaches 1.
public func diceLoss(
    prediction: Tensor, target: Tensor, activation: DiceActivation = .softmax, includeBackground: Bool = true,
    smooth: Float = 1e-5, reduction: Reduction = .mean
) -> Tensor {
    check(prediction.shape == target.shape && prediction.rank >= 3,
          "diceLoss: prediction \(prediction.shape) and target \(target.shape) must match and be (N, C, spatial…)")
    var p: Tensor
    switch activation {
    case .softmax: p = softmax(prediction, axis: 1)
    case .sigmoid: p = sigmoid(prediction)
    case .none: p = prediction
    }
    var t = target
    if !includeBackground {
        check(prediction.shape[1] > 1, "diceLoss: includeBackground false needs more than one class")
        p = p.narrow(axis: 1, start: 1, length: prediction.shape[1] - 1)
        t = t.narrow(axis: 1, start: 1, length: prediction.shape[1] - 1)
    }
    let spatial = Array(2..<prediction.rank)
    let intersection = (p * t).sum(axes: spatial)
    let denominator = p.sum(axes: spatial) + t.sum(axes: spatial)
    let loss = 1 - (intersection * 2 + smooth) / (denominator + smooth)
    return reduce(loss, reduction)
}

/// How `diceLoss` turns predictions into probabilities.
public enum DiceActivation: Sendable { case softmax, sigmoid, none }

/// Focal loss on logits for binary or multi-label targets (Lin et al. 2017; torchvision's
/// `sigmoid_focal_loss`): BCE · (1 − p_t)^γ, weighted by α for positives and 1 − α for negatives
/// (α < 0 turns the weighting off).
public func focalLoss(
    logits: Tensor, targets: Tensor, alpha: Float = 0.25, gamma: Float = 2, reduction: Reduction = .mean
) -> Tensor {
    check(logits.shape == targets.shape, "focalLoss: logits \(logits.shape) and targets \(targets.shape) differ")
    let p = sigmoid(logits)
    let ce = binaryCrossEntropyWithLogits(logits: logits, targets: targets, reduction: .none)
    let pT = p * targets + (1 - p) * (1 - targets)
    var loss = ce * (1 - pT).pow(gamma)
    if alpha >= 0 { loss = loss * (targets * alpha + (1 - targets) * (1 - alpha)) }
    return reduce(loss, reduction)
}
