import CGalenRuntime

/// Keeps freed tensor buffers in the process heap instead of returning them to the kernel.
///
/// glibc serves blocks above 128 KiB with mmap and gives them back on free, so every training step
/// faulted its activations in again and the kernel zeroed each page: 45% of a ResNet-18 step. With
/// these thresholds, blocks up to 32 MiB are recycled from the heap. Memory stays at its peak
/// (as with PyTorch's caching allocator) instead of being returned between steps.
private let heapTuning: Void = galen_tune_heap()

/// A fixed-size, 64-byte aligned buffer of Float32 values that one or more tensors view.
///
/// Kernels work on `pointer` directly; the buffer is freed when the last tensor viewing it goes away.
public final class TensorStorage: @unchecked Sendable {
    /// Number of Float32 elements.
    public let count: Int
    /// The first element. Valid for `count` elements while the storage is alive.
    public let pointer: UnsafeMutablePointer<Float>

    /// Allocates `count` uninitialized elements.
    public init(uninitializedCount count: Int) {
        _ = heapTuning
        self.count = count
        // Aligned so that SIMD loads and BLAS never straddle cache lines at the start of a tensor.
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Allocates `count` elements set to `value`.
    public convenience init(count: Int, repeating value: Float) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: value, count: count)
    }

    deinit {
        UnsafeMutableRawPointer(pointer).deallocate()
    }
}
