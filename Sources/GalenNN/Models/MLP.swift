import Galen

/// A multilayer perceptron: the input is flattened to (N, inputs), then each hidden layer is
/// Linear → [BatchNorm1d] → ReLU → [Dropout], and a last Linear gives the class scores.
///
/// Every layer sits in one `Sequential` named `layers`, so the state-dict keys are those of
/// PyTorch's `nn.Sequential` at the same indices. With `hidden: [64, 32]` and `batchNorm: true`:
/// `layers.0.weight` (Linear), `layers.1.weight` / `layers.1.running_mean` (BatchNorm1d),
/// `layers.3.weight` … — indices count the parameter-free ReLU and Dropout too.
public final class MLP: Module, Layer {
    /// Linear, normalization, activation and dropout layers in order; the last is the output Linear.
    public let layers: Sequential

    /// - Parameters:
    ///   - inputs: features per sample after flattening (e.g. 784 for 1×28×28 images).
    ///   - hidden: widths of the hidden layers; empty for logistic regression.
    ///   - classes: number of outputs.
    ///   - dropout: dropout probability after each hidden activation (no Dropout layer when 0).
    ///   - batchNorm: a BatchNorm1d after each hidden Linear.
    public init(inputs: Int, hidden: [Int], classes: Int, dropout: Float = 0, batchNorm: Bool = false) {
        check(inputs > 0 && classes > 0 && hidden.allSatisfy { $0 > 0 },
              "MLP: inputs \(inputs), hidden \(hidden) and classes \(classes) must be positive")
        var stack: [any Layer] = []
        var width = inputs
        for next in hidden {
            stack.append(Linear(width, next))
            if batchNorm { stack.append(BatchNorm1d(next)) }
            stack.append(ReLU())
            if dropout > 0 { stack.append(Dropout(p: dropout)) }
            width = next
        }
        stack.append(Linear(width, classes))
        layers = Sequential(stack)
        super.init()
    }

    /// (N, …) → (N, classes); every axis after the first is flattened into features.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        layers(x.rank == 2 ? x : x.flattened(startAxis: 1))
    }
}
