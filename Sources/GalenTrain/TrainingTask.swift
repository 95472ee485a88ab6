import Galen
import GalenData
import GalenNN

/// What a model predicts, which fixes its output width, its loss and how outputs become
/// probabilities. The MedMNIST tasks follow the MedMNIST v2 code: binary and ordinal tasks are
/// trained as K-way softmax classification with cross-entropy, multi-label with per-label
/// sigmoid and binary cross-entropy.
public enum TrainingTask: Sendable, Equatable, CustomStringConvertible {
    /// Two classes; the model has two outputs and the positive-class score is the second.
    case binary
    case multiClass(classes: Int)
    /// Independent yes/no labels; targets are 0/1 floats in `Example.target`.
    case multiLabel(labels: Int)
    /// Ordered grades, trained as multi-class (as MedMNIST does); kappa is reported quadratic.
    case ordinal(classes: Int)
    /// Real-valued targets in `Example.target`, mean squared error.
    case regression(outputs: Int)

    /// Number of model outputs.
    public var outputCount: Int {
        switch self {
        case .binary: return 2
        case .multiClass(let k), .ordinal(let k): return k
        case .multiLabel(let k): return k
        case .regression(let k): return k
        }
    }

    /// Number of classes for class-index tasks (nil for multi-label and regression).
    public var classCount: Int? {
        switch self {
        case .binary: return 2
        case .multiClass(let k), .ordinal(let k): return k
        case .multiLabel, .regression: return nil
        }
    }

    public var description: String {
        switch self {
        case .binary: return "binary classification"
        case .multiClass(let k): return "multi-class classification (\(k) classes)"
        case .multiLabel(let k): return "multi-label classification (\(k) labels)"
        case .ordinal(let k): return "ordinal regression (\(k) grades)"
        case .regression(let k): return k == 1 ? "regression" : "regression (\(k) outputs)"
        }
    }

    /// The task of a MedMNIST dataset.
    public init(medMNIST info: MedMNISTInfo) {
        switch info.task {
        case .binaryClass: self = .binary
        case .multiClass: self = info.classCount == 2 ? .binary : .multiClass(classes: info.classCount)
        case .multiLabel: self = .multiLabel(labels: info.classCount)
        case .ordinalRegression: self = .ordinal(classes: info.classCount)
        }
    }

    /// The training loss of `outputs` [N, outputCount] against a batch's labels or targets.
    /// `classWeights` weight each class's cross-entropy terms (class-index tasks only).
    public func loss(outputs: Tensor, batch: Batch, classWeights: Tensor? = nil) -> Tensor {
        switch self {
        case .binary, .multiClass, .ordinal:
            guard let label = batch.label else { fatalError("TrainingTask.loss: \(self) needs class labels in the batch") }
            return crossEntropy(logits: outputs, labels: label.reshaped([label.count]), weight: classWeights)
        case .multiLabel:
            guard let target = batch.target else { fatalError("TrainingTask.loss: \(self) needs 0/1 targets in the batch") }
            return binaryCrossEntropyWithLogits(logits: outputs, targets: target)
        case .regression:
            guard let target = batch.target else { fatalError("TrainingTask.loss: \(self) needs targets in the batch") }
            return mseLoss(outputs, target.reshaped(outputs.shape))
        }
    }

    /// Outputs → probabilities (softmax over classes, sigmoid per label); regression outputs pass
    /// through unchanged.
    public func probabilities(outputs: Tensor) -> Tensor {
        switch self {
        case .binary, .multiClass, .ordinal: return softmax(outputs, axis: 1)
        case .multiLabel: return sigmoid(outputs)
        case .regression: return outputs
        }
    }
}
