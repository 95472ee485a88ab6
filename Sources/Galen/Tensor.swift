import Foundation

/// An n-dimensional array of Float32 values that records the operations applied to it for
/// reverse-mode differentiation.
///
/// Layout: a tensor views a `TensorStorage` through a shape, strides (in elements) and an offset.
/// Most operations produce fresh contiguous (row-major) tensors; `transposed`, `permuted` and
/// `expanded` produce strided views that share storage, so that `matmul` can hand a transposed
/// operand to BLAS with a transpose flag instead of copying it. Kernels that need contiguous input
/// call `contiguous()`, which is free for tensors that already are.
public final class Tensor {
    /// The size of each dimension.
    public let shape: [Int]
    /// The distance in elements between neighbours along each dimension.
    public let strides: [Int]
    /// Index of the first element in `storage`.
    public let offset: Int
    /// The buffer this tensor views.
    public let storage: TensorStorage

    /// Whether gradients flow to (leaf) or through (interior) this tensor.
    public internal(set) var requiresGradFlag: Bool
    /// The accumulated gradient of a leaf tensor after `backward()`, nil until then.
    public var grad: Tensor?
    /// The operation that produced this tensor; nil for leaves.
    public internal(set) var gradFunction: GradFunction?

    /// A view of `storage`; the designated initializer every other one funnels into.
    public init(storage: TensorStorage, shape: [Int], strides: [Int]? = nil, offset: Int = 0) {
        self.storage = storage
        self.shape = shape
        self.strides = strides ?? Shape.contiguousStrides(shape)
        self.offset = offset
        self.requiresGradFlag = false
    }

    /// A new contiguous tensor with uninitialized values (kernels fill it).
    convenience init(uninitializedShape shape: [Int]) {
        self.init(storage: TensorStorage(uninitializedCount: Shape.count(shape)), shape: shape)
    }

    /// A tensor holding `values` in row-major order.
    public convenience init(_ values: [Float], shape: [Int]) {
        check(
            Shape.count(shape) == values.count,
            "Tensor(_:shape:): \(values.count) values do not fill shape \(shape)")
        self.init(uninitializedShape: shape)
        values.withUnsafeBufferPointer { source in
            storage.pointer.update(from: source.baseAddress!, count: values.count)
        }
    }

    /// A 1-D tensor holding `values`.
    public convenience init(_ values: [Float]) {
        self.init(values, shape: [values.count])
    }

    /// A 0-D tensor holding one value.
    public convenience init(scalar value: Float) {
        self.init([value], shape: [])
    }

    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Total number of elements.
    public var count: Int { Shape.count(shape) }

    /// Whether gradients flow to or through this tensor. Setting it is allowed on leaves only.
    public var requiresGrad: Bool {
        get { requiresGradFlag }
        set {
            check(
                gradFunction == nil || newValue,
                "requiresGrad: cannot be turned off on a tensor produced by \(gradFunction!.name); use detach()")
            requiresGradFlag = newValue
        }
    }

    /// Whether this tensor was created by the user rather than by a recorded operation.
    public var isLeaf: Bool { gradFunction == nil }

    /// Sets `requiresGrad` and returns self, for chaining at creation.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        requiresGrad = flag
        return self
    }

    /// Whether the elements lie in row-major order without gaps.
    public var isContiguous: Bool {
        var expected = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) where shape[axis] != 1 {
            if strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// Pointer to the first element. Only meaningful on contiguous tensors.
    var pointer: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// This tensor if contiguous, otherwise a contiguous copy (differentiable).
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let result = Tensor(uninitializedShape: shape)
        copyStrided(from: self, into: result.pointer)
        return record(result, "contiguous", [self]) { gradient in [gradient] }
    }

    /// The same values as a new leaf that shares storage and records nothing.
    public func detach() -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset)
    }

    /// The values in row-major order.
    public var scalars: [Float] {
        let source = contiguousValues()
        return withExtendedLifetime(source) { Array(UnsafeBufferPointer(start: source.pointer, count: count)) }
    }

    /// The single value of a one-element tensor.
    public var item: Float {
        check(count == 1, "item: tensor of shape \(shape) has \(count) elements, not 1")
        return storage.pointer[offset]
    }

    /// A contiguous tensor with these values that records nothing (for kernels).
    func contiguousValues() -> Tensor {
        if isContiguous { return self }
        let result = Tensor(uninitializedShape: shape)
        copyStrided(from: self, into: result.pointer)
        return result
    }

    /// A detached contiguous copy that owns its storage.
    public func copy() -> Tensor {
        let result = Tensor(uninitializedShape: shape)
        if isContiguous {
            result.pointer.update(from: pointer, count: count)
        } else {
            copyStrided(from: self, into: result.pointer)
        }
        return result
    }
}

extension Tensor {
    /// Overwrites this tensor's elements with `source`'s (same shape), in place and unrecorded:
    /// how checkpoints load into parameters and how running statistics update.
    public func assign(_ source: Tensor) {
        check(shape == source.shape, "assign: shape \(source.shape) does not match \(shape)")
        check(isContiguous, "assign: target of shape \(shape) must be contiguous")
        let values = source.contiguousValues()
        withExtendedLifetime(values) { pointer.update(from: values.pointer, count: count) }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = scalars
        let shown = values.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        let more = values.count > 8 ? ", …" : ""
        let grad = requiresGrad ? ", requiresGrad" : ""
        return "Tensor(shape: \(shape), [\(shown)\(more)]\(grad))"
    }
}

/// Calls `body(storageOffset, linearStart)` for each innermost run of a strided view: the run
/// starts at `storageOffset` in the view's storage and holds row-major elements
/// linearStart ..< linearStart + shape.last. Kernels use it to read or write views without a
/// per-element index computation.
func forEachRun(
    shape: [Int], strides: [Int], offset: Int, _ body: (_ storageOffset: Int, _ linearStart: Int) -> Void
) {
    let rank = shape.count
    let total = Shape.count(shape)
    if total == 0 { return }
    if rank == 0 {
        body(offset, 0)
        return
    }
    let innerCount = shape[rank - 1]
    var index = [Int](repeating: 0, count: rank)
    var storageOffset = offset
    var linear = 0
    while linear < total {
        body(storageOffset, linear)
        linear += innerCount
        var axis = rank - 2
        while axis >= 0 {
            index[axis] += 1
            storageOffset += strides[axis]
            if index[axis] < shape[axis] { break }
            storageOffset -= strides[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}

/// Copies a strided tensor's elements into `destination` in row-major order.
func copyStrided(from source: Tensor, into destination: UnsafeMutablePointer<Float>) {
    let base = source.storage.pointer
    let innerCount = source.shape.last ?? 1
    let innerStride = source.strides.last ?? 1
    forEachRun(shape: source.shape, strides: source.strides, offset: source.offset) { storageOffset, linear in
        let row = base + storageOffset
        let out = destination + linear
        if innerStride == 1 {
            out.update(from: row, count: innerCount)
        } else {
            for i in 0..<innerCount { out[i] = row[i &* innerStride] }
        }
    }
}

/// Adds row-major `source` values into the elements of the strided view `target` (which may
/// overlap itself only if the caller wants accumulation, as in expand's backward).
func addStrided(_ source: UnsafePointer<Float>, into target: Tensor) {
    let base = target.storage.pointer
    let innerCount = target.shape.last ?? 1
    let innerStride = target.strides.last ?? 1
    forEachRun(shape: target.shape, strides: target.strides, offset: target.offset) { storageOffset, linear in
        let row = base + storageOffset
        let from = source + linear
        for i in 0..<innerCount { row[i &* innerStride] += from[i] }
    }
}
