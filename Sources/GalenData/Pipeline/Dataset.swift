import Galen

/// One example of a dataset: what the model reads and what it should predict.
///
/// `input` has no batch dimension (e.g. [C, H, W] for an image, [T, F] for a sequence).
/// A classification label, a segmentation mask or a token sequence goes in `label` (integers);
/// multi-label, regression or other dense float targets go in `target`. Datasets fill what their
/// task needs and leave the rest nil.
///
/// Examples are built by one thread (a DataLoader worker) and then handed to another; their
/// tensors are fresh, carry no autograd graph and are never shared while being written, which is
/// why the type can claim `Sendable` although `Tensor` is a class.
public struct Example: @unchecked Sendable {
    public var input: Tensor
    public var label: IntTensor?
    public var target: Tensor?

    public init(input: Tensor, label: IntTensor? = nil, target: Tensor? = nil) {
        self.input = input
        self.label = label
        self.target = target
    }
}

/// Random-access collection of examples, like `torch.utils.data.Dataset`.
///
/// `example(at:)` may be called from several DataLoader worker threads at once, so it must not
/// mutate shared state; randomness comes in through the generator the caller passes, which is
/// what makes augmentation reproducible and distinct per worker and epoch.
public protocol Dataset: Sendable {
    /// Number of examples.
    var count: Int { get }
    /// The example at `index` (0 ..< count). Errors (an unreadable file in a folder dataset) are
    /// thrown, naming the file.
    func example(at index: Int, generator: Generator) throws -> Example
}

extension Dataset {
    /// The example at `index` with a fixed generator (for evaluation, where nothing is random).
    public func example(at index: Int) throws -> Example {
        try example(at: index, generator: Generator(seed: UInt64(index)))
    }
}

/// A batch: the examples' tensors stacked along a new leading dimension.
public struct Batch: @unchecked Sendable {
    /// [N, ...] inputs.
    public var input: Tensor
    /// [N, ...] labels, when the examples have them (a class index per example becomes [N]).
    public var label: IntTensor?
    /// [N, ...] dense targets, when the examples have them.
    public var target: Tensor?
    /// Dataset indices of the examples, in batch order.
    public var indices: [Int]

    public var count: Int { indices.count }

    public init(input: Tensor, label: IntTensor? = nil, target: Tensor? = nil, indices: [Int]) {
        self.input = input
        self.label = label
        self.target = target
        self.indices = indices
    }

    /// Stacks `examples` (which must agree in shapes and in which fields they have) into a batch.
    public init(collating examples: [Example], indices: [Int]) {
        check(!examples.isEmpty, "Batch(collating:): no examples")
        check(examples.count == indices.count, "Batch(collating:): \(examples.count) examples but \(indices.count) indices")
        input = Self.stack(examples.map(\.input), field: "input")
        let labels = examples.compactMap(\.label)
        check(labels.isEmpty || labels.count == examples.count, "Batch(collating:): only some examples have a label")
        if let first = labels.first {
            var scalars: [Int] = []
            scalars.reserveCapacity(first.count * labels.count)
            for l in labels {
                check(l.shape == first.shape, "Batch(collating:): label shapes differ: \(first.shape) and \(l.shape)")
                scalars += l.scalars
            }
            // A scalar label (shape [] or [1]) per example becomes a [N] vector, as PyTorch's
            // default collate makes of Python ints.
            let itemShape = first.shape == [1] ? [] : first.shape
            label = IntTensor(scalars, shape: [labels.count] + itemShape)
        }
        let targets = examples.compactMap(\.target)
        check(targets.isEmpty || targets.count == examples.count, "Batch(collating:): only some examples have a target")
        target = targets.isEmpty ? nil : Self.stack(targets, field: "target")
        self.indices = indices
    }

    private static func stack(_ tensors: [Tensor], field: String) -> Tensor {
        let shape = tensors[0].shape
        let n = Shape.count(shape)
        let storage = TensorStorage(uninitializedCount: tensors.count * n)
        for (i, t) in tensors.enumerated() {
            check(t.shape == shape, "Batch(collating:): \(field) shapes differ: \(shape) and \(t.shape)")
            let c = t.contiguous()
            withExtendedLifetime(c) {
                (storage.pointer + i * n).update(from: c.storage.pointer + c.offset, count: n)
            }
        }
        return Tensor(storage: storage, shape: [tensors.count] + shape)
    }
}
