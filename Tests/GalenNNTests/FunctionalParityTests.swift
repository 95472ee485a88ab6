import Foundation
import Galen
import GalenNN
import GalenTestSupport
import Testing

private func reduction(_ a: Attributes) -> Reduction { Reduction(rawValue: a.string("reduction", "mean"))! }

/// Galen's side of Scripts/fixtures/cases_nn.py: losses, normalization, embedding, linear.
let nnRegistry: [String: OpFunction] = [
    "cross_entropy": { x, i, a in
        crossEntropy(logits: x[0], labels: i[0], labelSmoothing: a.float("label_smoothing", 0), reduction: reduction(a))
    },
    "cross_entropy_weighted": { x, i, a in
        crossEntropy(logits: x[0], labels: i[0], weight: x[1], ignoreIndex: a.int("ignore_index", -100),
                     labelSmoothing: a.float("label_smoothing", 0), reduction: reduction(a))
    },
    "nll": { x, i, _ in nllLoss(logProbabilities: logSoftmax(x[0], axis: 1), labels: i[0]) },
    "bce": { x, _, _ in binaryCrossEntropy(probabilities: x[0], targets: x[1]) },
    "bce_weighted": { x, _, a in binaryCrossEntropy(probabilities: x[0], targets: x[1], weight: x[2], reduction: reduction(a)) },
    "bce_logits": { x, _, _ in binaryCrossEntropyWithLogits(logits: x[0], targets: x[1]) },
    "bce_logits_pos_weight": { x, _, _ in binaryCrossEntropyWithLogits(logits: x[0], targets: x[1], posWeight: x[2]) },
    "mse": { x, _, _ in mseLoss(x[0], x[1]) },
    "l1": { x, _, _ in l1Loss(x[0], x[1]) },
    "smooth_l1": { x, _, a in smoothL1Loss(x[0], x[1], beta: a.float("beta")) },
    "huber": { x, _, a in huberLoss(x[0], x[1], delta: a.float("delta")) },
    "kl": { x, _, a in
        klDivergence(input: logSoftmax(x[0], axis: 1), target: softmax(x[1], axis: 1),
                     reduction: a.string("reduction") == "batchmean" ? .batchMean : KLReduction(rawValue: a.string("reduction"))!)
    },
    "kl_log_target": { x, _, a in
        klDivergence(input: logSoftmax(x[0], axis: 1), target: logSoftmax(x[1], axis: 1),
                     reduction: KLReduction(rawValue: a.string("reduction"))!, logTarget: true)
    },
    "dice": { x, _, a in diceLoss(prediction: x[0], target: x[1], includeBackground: a.bool("include_background", true)) },
    "focal": { x, _, a in focalLoss(logits: x[0], targets: x[1], alpha: a.float("alpha"), gamma: a.float("gamma")) },
    "batch_norm_train": { x, _, _ in
        batchNorm(x[0], runningMean: nil, runningVar: nil, weight: x[1], bias: x[2], training: true)
    },
    "batch_norm_eval": { x, _, _ in
        batchNorm(x[0], runningMean: x[3], runningVar: x[4], weight: x[1], bias: x[2], training: false)
    },
    "layer_norm": { x, _, a in layerNorm(x[0], normalizedShape: a.ints("shape"), weight: x[1], bias: x[2]) },
    "group_norm": { x, _, a in groupNorm(x[0], groups: a.int("groups"), weight: x[1], bias: x[2]) },
    "instance_norm": { x, _, _ in instanceNorm(x[0], weight: x[1], bias: x[2]) },
    "embedding": { x, i, a in embedding(i[0], weight: x[0], paddingIndex: a.int("padding_idx")) },
    "linear": { x, _, _ in linear(x[0], weight: x[1], bias: x[2]) },
    "bilinear": { x, _, _ in bilinear(x[0], x[1], weight: x[2], bias: x[3]) },
]

let nnSuite = OpFixtureSuite(directory: Bundle.module.url(forResource: "Fixtures", withExtension: nil), registry: nnRegistry)

@Suite struct NNPyTorchParity {
    @Test(arguments: nnSuite.names)
    func forwardAndBackwardMatchPyTorch(_ name: String) throws { try nnSuite.checkParity(name) }
}

@Suite struct NNFiniteDifferences {
    @Test(arguments: nnSuite.differentiableNames)
    func analyticGradientMatchesCentralDifferences(_ name: String) throws { try nnSuite.checkFiniteDifferences(name) }
}
