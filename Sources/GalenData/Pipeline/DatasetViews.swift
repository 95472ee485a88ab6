import Galen

/// The examples of `base` at `indices`, in that order (PyTorch's `Subset`): a train/validation
/// split of one dataset, or a class-filtered view.
public struct Subset<Base: Dataset>: Dataset {
    public let base: Base
    public let indices: [Int]

    public init(_ base: Base, indices: [Int]) {
        if let bad = indices.first(where: { $0 < 0 || $0 >= base.count }) {
            check(false, "Subset: index \(bad) is outside 0 ..< \(base.count)")
        }
        self.base = base
        self.indices = indices
    }

    public var count: Int { indices.count }

    public func example(at index: Int, generator: Generator) throws -> Example {
        check(index >= 0 && index < indices.count, "Subset: index \(index) is outside 0 ..< \(indices.count)")
        return try base.example(at: indices[index], generator: generator)
    }
}

/// `base` with `transform` applied to each example, drawing from the example's generator after
/// the base dataset has.
public struct TransformedDataset<Base: Dataset>: Dataset {
    public let base: Base
    public let transform: any Transform

    public init(_ base: Base, transform: any Transform) {
        self.base = base
        self.transform = transform
    }

    public var count: Int { base.count }

    public func example(at index: Int, generator: Generator) throws -> Example {
        transform.apply(try base.example(at: index, generator: generator), generator: generator)
    }
}

extension Dataset {
    /// The examples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Subset<Self> { Subset(self, indices: indices) }

    /// This dataset with `transform` applied to each example.
    public func transformed(by transform: any Transform) -> TransformedDataset<Self> {
        TransformedDataset(self, transform: transform)
    }
}
