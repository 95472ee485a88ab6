import Foundation
import Galen

/// Adds the fixed sinusoids of "Attention Is All You Need" to a sequence, then dropout:
/// pe[pos, 2i] = sin(pos / 10000^(2i/d)), pe[pos, 2i+1] = cos(pos / 10000^(2i/d)).
///
/// The table is a non-persistent buffer `pe` (maxLength, dModel): it is not in the state dict,
/// being a function of the configuration. Inputs are (N, L, dModel) or, without `batchFirst`,
/// (L, N, dModel).
public final class SinusoidalPositionalEncoding: Module, Layer {
    public let pe: Buffer
    public let dropout: Dropout
    public let batchFirst: Bool

    public init(dModel: Int, maxLength: Int = 5000, dropout: Float = 0.1, batchFirst: Bool = true, generator: Generator = .default) {
        check(dModel > 0 && maxLength > 0, "SinusoidalPositionalEncoding: dModel \(dModel) and maxLength \(maxLength) must be positive")
        var table = [Float](repeating: 0, count: maxLength * dModel)
        for position in 0..<maxLength {
            for i in stride(from: 0, to: dModel, by: 2) {
                // Double, so that large positions keep their phase.
                let angle = Double(position) * Foundation.exp(-Double(i) * Foundation.log(10000) / Double(dModel))
                table[position * dModel + i] = Float(Foundation.sin(angle))
                if i + 1 < dModel { table[position * dModel + i + 1] = Float(Foundation.cos(angle)) }
            }
        }
        pe = Buffer(Tensor(table, shape: [maxLength, dModel]), persistent: false)
        self.dropout = Dropout(p: dropout, generator: generator)
        self.batchFirst = batchFirst
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        dropout(x + positionRows(pe.value, for: x, batchFirst: batchFirst, op: "SinusoidalPositionalEncoding"))
    }
}

/// A trained position embedding added to a sequence: parameter `weight` (maxLength, dModel),
/// initialized from a normal distribution with std 0.02 truncated at ±2 std (as BERT, GPT-2 and
/// timm's ViT). Inputs are (N, L, dModel) or, without `batchFirst`, (L, N, dModel).
public final class LearnedPositionalEmbedding: Module, Layer {
    public let weight: Tensor
    public let batchFirst: Bool

    public init(maxLength: Int, dModel: Int, batchFirst: Bool = true, generator: Generator = .default) {
        check(maxLength > 0 && dModel > 0, "LearnedPositionalEmbedding: maxLength \(maxLength) and dModel \(dModel) must be positive")
        weight = Tensor.zeros([maxLength, dModel]).requiringGrad()
        self.batchFirst = batchFirst
        super.init()
        fillTruncatedNormal(weight, std: 0.02, generator: generator)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        x + positionRows(weight, for: x, batchFirst: batchFirst, op: "LearnedPositionalEmbedding")
    }
}

/// The first L rows of a (maxLength, d) table, shaped to broadcast over `x`.
private func positionRows(_ table: Tensor, for x: Tensor, batchFirst: Bool, op: String) -> Tensor {
    let (maxLength, d) = (table.shape[0], table.shape[1])
    check(x.rank == 3 && x.shape[2] == d, "\(op): input \(x.shape) must be \(batchFirst ? "(N, L, \(d))" : "(L, N, \(d))")")
    let length = x.shape[batchFirst ? 1 : 0]
    check(length <= maxLength, "\(op): sequence of \(length) positions in input \(x.shape) exceeds maxLength \(maxLength)")
    let rows = table.narrow(axis: 0, start: 0, length: length)
    return batchFirst ? rows : rows.unsqueezed(axis: 1)
}

/// N(0, std²) truncated to ±2 std by redrawing what falls outside (timm's trunc_normal_ with its
/// bounds scaled to the std, which is what its ViT means by them).
func fillTruncatedNormal(_ tensor: Tensor, std: Float, generator: Generator = .default) {
    var values = Tensor.randn(tensor.shape, generator: generator).scalars
    for i in values.indices {
        while Swift.abs(values[i]) > 2 { values[i] = Tensor.randn([1], generator: generator).item }
    }
    noGrad { tensor.assign(Tensor(values.map { $0 * std }, shape: tensor.shape)) }
}
