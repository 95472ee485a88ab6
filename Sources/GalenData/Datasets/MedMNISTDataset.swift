import Galen

// MedMNISTSplit holds immutable tensors that workers only read, so it may cross threads.
extension MedMNISTSplit: @unchecked Sendable {}

/// A MedMNIST split as a `Dataset`: example i is image i ([C, H, W], normalized as loaded) with
/// its class index as a scalar `label` (binary, multi-class and ordinal tasks), or, for multi-label
/// data (ChestMNIST), its 0/1 findings as a Float `target` [L]. Batches then hold labels [N] or
/// targets [N, L].
extension MedMNISTSplit: Dataset {
    public func example(at index: Int, generator: Generator) throws -> Example {
        check(index >= 0 && index < count, "MedMNISTSplit: index \(index) is outside 0 ..< \(count)")
        let source = images.isContiguous ? images : images.copy()
        let imageShape = Array(source.shape.dropFirst())
        let size = Shape.count(imageShape)
        let storage = TensorStorage(uninitializedCount: size)
        withExtendedLifetime(source) {
            storage.pointer.update(from: source.storage.pointer + source.offset + index * size, count: size)
        }
        let image = Tensor(storage: storage, shape: imageShape)
        if labels.rank == 2 {
            let columns = labels.shape[1]
            let findings = labels.scalars[index * columns..<(index + 1) * columns].map(Float.init)
            return Example(input: image, target: Tensor(findings, shape: [columns]))
        }
        return Example(input: image, label: IntTensor([labels.scalars[index]], shape: []))
    }
}
