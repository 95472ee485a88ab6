import Galen

/// LeNet-5 (LeCun et al., 1998) with ReLU and max pooling in place of the original tanh and
/// trainable subsampling, as it is usually taught:
/// conv 6@5×5 (padding 2) → ReLU → max-pool 2 → conv 16@5×5 → ReLU → max-pool 2 → fc 120 → ReLU →
/// fc 84 → ReLU → fc classes.
///
/// The padding of 2 makes a 28×28 input (MNIST, MedMNIST) follow the classic 32×32 geometry:
/// 28 → 28 → 14 → 10 → 5, so `fc1` sees 16·5·5 = 400 features. Other square sizes work too
/// (`inputSize` fixes `fc1`'s width). Keys, as in the PyTorch tutorial's `Net`:
/// `conv1.weight`, `conv1.bias`, `conv2.*`, `fc1.*`, `fc2.*`, `fc3.*`.
public final class LeNet5: Module, Layer {
    public let conv1: Conv2d
    public let conv2: Conv2d
    public let fc1: Linear
    public let fc2: Linear
    public let fc3: Linear
    /// Height and width of the (square) input images the model was built for.
    public let inputSize: Int

    /// - Parameters:
    ///   - inChannels: channels of the input images (1 for grayscale, 3 for RGB).
    ///   - classes: number of outputs.
    ///   - inputSize: side of the square input images; at least 12.
    public init(inChannels: Int = 1, classes: Int, inputSize: Int = 28) {
        check(inputSize >= 12, "LeNet5: input size \(inputSize) leaves no features after two 5×5 convolutions")
        self.inputSize = inputSize
        let side = (inputSize / 2 - 4) / 2
        conv1 = Conv2d(inChannels, 6, kernelSize: 5, padding: 2)
        conv2 = Conv2d(6, 16, kernelSize: 5)
        fc1 = Linear(16 * side * side, 120)
        fc2 = Linear(120, 84)
        fc3 = Linear(84, classes)
        super.init()
    }

    /// (N, inChannels, inputSize, inputSize) → (N, classes).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        check(x.rank == 4 && x.shape[2] == inputSize && x.shape[3] == inputSize,
              "LeNet5: input must be (N, C, \(inputSize), \(inputSize)), got \(x.shape)")
        var y = maxPool2d(relu(conv1(x)), kernelSize: 2)
        y = maxPool2d(relu(conv2(y)), kernelSize: 2)
        y = y.flattened(startAxis: 1)
        return fc3(relu(fc2(relu(fc1(y)))))
    }
}
