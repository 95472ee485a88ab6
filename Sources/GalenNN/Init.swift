import Foundation
import Galen

/// Weight initializers (PyTorch's torch.nn.init), each filling a tensor in place from a seeded
/// generator. Fan-in and fan-out follow PyTorch: dimension 1 and 0 times the receptive field.
public enum Init {
    /// (fanIn, fanOut) of a weight: [out, in, k…] → (in·k…, out·k…).
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        check(shape.count >= 2, "Init: fan-in and fan-out need at least 2 dimensions, got \(shape)")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// How a nonlinearity scales the variance (PyTorch's calculate_gain).
    public enum Nonlinearity: Sendable {
        case linear, sigmoid, tanh, relu
        case leakyRelu(negativeSlope: Float)
        case selu

        public var gain: Float {
            switch self {
            case .linear, .sigmoid: 1
            case .tanh: 5.0 / 3
            case .relu: Float(2).squareRoot()
            case .leakyRelu(let slope): (2 / (1 + slope * slope)).squareRoot()
            case .selu: 0.75
            }
        }
    }

    /// Which fan the Kaiming initializers keep the variance of.
    public enum FanMode: Sendable { case fanIn, fanOut }

    private static func fill(_ tensor: Tensor, with values: Tensor) {
        noGrad { tensor.assign(values) }
    }

    /// U(low, high).
    public static func uniform(_ tensor: Tensor, low: Float = 0, high: Float = 1, generator: Generator = .default) {
        fill(tensor, with: Tensor.uniform(tensor.shape, low: low, high: high, generator: generator))
    }

    /// N(mean, std²).
    public static func normal(_ tensor: Tensor, mean: Float = 0, std: Float = 1, generator: Generator = .default) {
        fill(tensor, with: Tensor.randn(tensor.shape, mean: mean, std: std, generator: generator))
    }

    /// Every element set to `value`.
    public static func constant(_ tensor: Tensor, _ value: Float) { fill(tensor, with: Tensor.full(tensor.shape, value)) }
    /// Zeros.
    public static func zeros(_ tensor: Tensor) { constant(tensor, 0) }
    /// Ones.
    public static func ones(_ tensor: Tensor) { constant(tensor, 1) }

    /// Kaiming (He) uniform: U(−b, b), b = gain·√(3 / fan).
    public static func kaimingUniform(
        _ tensor: Tensor, nonlinearity: Nonlinearity = .leakyRelu(negativeSlope: 0), mode: FanMode = .fanIn,
        generator: Generator = .default
    ) {
        let (fanIn, fanOut) = fans(tensor.shape)
        let fan = Float(mode == .fanIn ? fanIn : fanOut)
        let bound = nonlinearity.gain * (3 / fan).squareRoot()
        uniform(tensor, low: -bound, high: bound, generator: generator)
    }

    /// Kaiming (He) normal: N(0, (gain / √fan)²).
    public static func kaimingNormal(
        _ tensor: Tensor, nonlinearity: Nonlinearity = .leakyRelu(negativeSlope: 0), mode: FanMode = .fanIn,
        generator: Generator = .default
    ) {
        let (fanIn, fanOut) = fans(tensor.shape)
        let fan = Float(mode == .fanIn ? fanIn : fanOut)
        normal(tensor, std: nonlinearity.gain / fan.squareRoot(), generator: generator)
    }

    /// Xavier (Glorot) uniform: U(−b, b), b = gain·√(6 / (fanIn + fanOut)).
    public static func xavierUniform(_ tensor: Tensor, gain: Float = 1, generator: Generator = .default) {
        let (fanIn, fanOut) = fans(tensor.shape)
        let bound = gain * (6 / Float(fanIn + fanOut)).squareRoot()
        uniform(tensor, low: -bound, high: bound, generator: generator)
    }

    /// Xavier (Glorot) normal: N(0, gain²·2 / (fanIn + fanOut)).
    public static func xavierNormal(_ tensor: Tensor, gain: Float = 1, generator: Generator = .default) {
        let (fanIn, fanOut) = fans(tensor.shape)
        normal(tensor, std: gain * (2 / Float(fanIn + fanOut)).squareRoot(), generator: generator)
    }

    /// A (semi-)orthogonal matrix scaled by `gain`: the rows (or columns, whichever are fewer) of
    /// the weight viewed as [shape[0], rest] are orthonormal. Built by Gram–Schmidt on a Gaussian
    /// matrix, with the sign convention of a QR whose R has a positive diagonal.
    public static func orthogonal(_ tensor: Tensor, gain: Float = 1, generator: Generator = .default) {
        check(tensor.rank >= 2, "Init.orthogonal: needs at least 2 dimensions, got \(tensor.shape)")
        let rows = tensor.shape[0]
        let columns = tensor.count / rows
        // Orthonormalize the longer side's vectors: work on the transpose when rows > columns.
        let transpose = rows > columns
        let (vectors, length) = transpose ? (columns, rows) : (rows, columns)
        let gaussian = Tensor.randn([vectors, length], generator: generator).scalars.map(Double.init)
        var basis = [[Double]]()
        for v in 0..<vectors {
            var u = Array(gaussian[(v * length)..<((v + 1) * length)])
            for _ in 0..<2 {  // twice for numerical orthogonality
                for b in basis {
                    let dot = zip(u, b).reduce(0) { $0 + $1.0 * $1.1 }
                    for i in 0..<length { u[i] -= dot * b[i] }
                }
            }
            let norm = u.reduce(0) { $0 + $1 * $1 }.squareRoot()
            basis.append(u.map { $0 / norm })
        }
        var values = [Float](repeating: 0, count: rows * columns)
        for v in 0..<vectors {
            for i in 0..<length {
                let value = Float(basis[v][i]) * gain
                if transpose { values[i * columns + v] = value } else { values[v * columns + i] = value }
            }
        }
        fill(tensor, with: Tensor(values, shape: tensor.shape))
    }
}
