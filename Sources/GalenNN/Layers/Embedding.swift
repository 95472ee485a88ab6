import Galen

/// A lookup table of `count` vectors of size `dimension`, initialized N(0, 1) like PyTorch; the
/// row at `paddingIndex` starts at zero and is never updated.
public final class Embedding: Module {
    public let weight: Tensor
    public let paddingIndex: Int?

    public init(_ count: Int, _ dimension: Int, paddingIndex: Int? = nil) {
        check(count > 0 && dimension > 0, "Embedding: sizes must be positive, got \(count) × \(dimension)")
        let index = paddingIndex.map { $0 < 0 ? $0 + count : $0 }
        if let index { check(index >= 0 && index < count, "Embedding: paddingIndex \(paddingIndex!) is outside 0..<\(count)") }
        weight = Tensor.randn([count, dimension]).requiringGrad()
        self.paddingIndex = index
        super.init()
        if let index {
            noGrad { weight.storage.pointer.advanced(by: index * dimension).update(repeating: 0, count: dimension) }
        }
    }

    public func callAsFunction(_ indices: IntTensor) -> Tensor {
        embedding(indices, weight: weight, paddingIndex: paddingIndex)
    }
}
