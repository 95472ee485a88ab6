import Galen

/// Builds the zoo's models by name, for command lines and configuration files.
///
/// | name | model |
/// |---|---|
/// | `mlp` | `MLP` with hidden widths [256, 128], flattening imageSize² · inChannels inputs |
/// | `lenet` | `LeNet5` for imageSize × imageSize images |
/// | `resnet18-28`, `resnet50-28` | `ResNet28` (MedMNIST v2 layout) |
/// | `resnet18`, `resnet50` | `ResNet` (torchvision layout) |
/// | `unet` | `UNet` with depth 4, base width 64, transposed convolutions; `classes` score maps |
/// | `vit` | `VisionTransformer`: ≤ 64 patches (4×4 on 28×28 images), dim 64, depth 4, 4 heads |
///
/// and, for signals and token sequences (`makeSequence`):
///
/// | name | model |
/// |---|---|
/// | `lstm`, `gru` | `RecurrentSequenceModel`: (embedding,) 2-layer bidirectional LSTM/GRU, hidden 64 |
/// | `cnn-lstm` | `ConvolutionalLSTM`: two Conv1d blocks, then a bidirectional LSTM |
/// | `transformer` | `TransformerSequenceModel`: 2 pre-norm encoder layers, d 64, 4 heads |
public enum ModelZoo {
    /// The names `make` accepts, in the order of the table above.
    public static let names = ["mlp", "lenet", "resnet18-28", "resnet50-28", "resnet18", "resnet50", "unet", "vit"]

    /// A freshly initialized model, in training mode.
    ///
    /// - Parameters:
    ///   - name: one of `names`.
    ///   - inChannels: channels of the input images.
    ///   - classes: number of outputs (score maps for `unet`).
    ///   - imageSize: side of the square input images, which fixes the width of the first fully
    ///     connected layer of `mlp` and `lenet` (the other models accept any size).
    /// - Throws: `ModelZooError.unknownModel` for a name not in `names`, and
    ///   `ModelZooError.invalidArgument` for non-positive channels, classes or image size.
    public static func make(name: String, inChannels: Int, classes: Int, imageSize: Int = 28) throws -> any Layer {
        for (field, value) in [("inChannels", inChannels), ("classes", classes), ("imageSize", imageSize)] where value <= 0 {
            throw ModelZooError.invalidArgument("\(field) must be positive, got \(value)")
        }
        switch name {
        case "mlp": return MLP(inputs: inChannels * imageSize * imageSize, hidden: [256, 128], classes: classes)
        case "lenet":
            guard imageSize >= 12 else { throw ModelZooError.invalidArgument("lenet needs imageSize ≥ 12, got \(imageSize)") }
            return LeNet5(inChannels: inChannels, classes: classes, inputSize: imageSize)
        case "resnet18-28": return resnet18_28(inChannels: inChannels, classes: classes)
        case "resnet50-28": return resnet50_28(inChannels: inChannels, classes: classes)
        case "resnet18": return resnet18(inChannels: inChannels, classes: classes)
        case "resnet50": return resnet50(inChannels: inChannels, classes: classes)
        case "unet": return UNet(inChannels: inChannels, classes: classes)
        case "vit":
            // The smallest patch that leaves at most 8 × 8 patches.
            guard let patch = [4, 7, 8, 14, 16, 28, 32].first(where: { imageSize % $0 == 0 && imageSize / $0 <= 8 }) else {
                throw ModelZooError.invalidArgument("vit needs an image size divisible into at most 8 × 8 patches, got \(imageSize)")
            }
            return VisionTransformer(imageSize: imageSize, patchSize: patch, inChannels: inChannels, classes: classes)
        default:
            if sequenceNames.contains(name) {
                throw ModelZooError.invalidArgument("\(name) reads signals or token sequences, not images")
            }
            throw ModelZooError.unknownModel(name)
        }
    }

    /// The names `makeSequence` accepts.
    public static let sequenceNames = ["lstm", "gru", "cnn-lstm", "transformer"]

    /// Every model name, images first.
    public static var allNames: [String] { names + sequenceNames }

    /// A freshly initialized sequence model with `outputs` outputs, in training mode.
    public static func makeSequence(name: String, input: SequenceInput, outputs: Int) throws -> any Layer {
        guard outputs > 0 else { throw ModelZooError.invalidArgument("outputs must be positive, got \(outputs)") }
        switch name {
        case "lstm": return RecurrentSequenceModel(.lstm, input: input, outputs: outputs)
        case "gru": return RecurrentSequenceModel(.gru, input: input, outputs: outputs)
        case "cnn-lstm":
            if case .signal(_, let length) = input, length < 4 {
                throw ModelZooError.invalidArgument("cnn-lstm pools signals by 4 and needs at least 4 samples, got \(length)")
            }
            return ConvolutionalLSTM(input: input, outputs: outputs)
        case "transformer":
            if case .signal(_, let length) = input, length < 8 {
                throw ModelZooError.invalidArgument("transformer cuts signals into 8-sample patches and needs at least 8 samples, got \(length)")
            }
            return TransformerSequenceModel(input: input, outputs: outputs)
        default:
            if names.contains(name) {
                throw ModelZooError.invalidArgument("\(name) takes images; sequences take \(sequenceNames.joined(separator: ", "))")
            }
            throw ModelZooError.unknownModel(name)
        }
    }
}

/// A model the zoo cannot build.
public enum ModelZooError: Error, Equatable, CustomStringConvertible {
    /// The name is not one of `ModelZoo.names`.
    case unknownModel(String)
    /// A size or count is out of range; the message names it.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .unknownModel(let name):
            "unknown model \(String(reflecting: name)); valid names: \(ModelZoo.allNames.joined(separator: ", "))"
        case .invalidArgument(let message): "ModelZoo: \(message)"
        }
    }
}
