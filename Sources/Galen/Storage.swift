import CGalenRuntime
import Foundation

/// Keeps freed buffers below 1 MiB (those `LargeBufferCache` does not take) in the process heap
/// instead of returning them to the kernel.
///
/// glibc serves blocks above 128 KiB with mmap and gives them back on free, so every training step
/// faulted them in again and the kernel zeroed each page. With these thresholds, blocks up to
/// 32 MiB are recycled from the heap.
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
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        // Aligned so that SIMD loads and BLAS never straddle cache lines at the start of a tensor.
        let raw = LargeBufferCache.take(bytes)
            ?? UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Allocates `count` elements set to `value`.
    public convenience init(count: Int, repeating value: Float) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: value, count: count)
    }

    deinit {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if !LargeBufferCache.give(UnsafeMutableRawPointer(pointer), bytes) {
            UnsafeMutableRawPointer(pointer).deallocate()
        }
    }
}

/// Tensor buffers of 1 MiB and more, kept after their tensor dies for the next request of the
/// same (page-rounded) size.
///
/// A training step allocates the same sequence of large buffers every time. Through malloc they
/// came from a heap that fragmented and kept growing (small long-lived objects pinned the space
/// between them), so each step faulted in fresh pages and the kernel zeroed them: 29% of a
/// ResNet-18 (28) training step's cycles in `clear_page_erms`. Here large buffers are mapped
/// separately and recycled by exact size, so after the first step no page is faulted in again.
/// The cache holds at most `capacityBytes` of unused buffers; beyond that they are unmapped.
enum LargeBufferCache {
    static let minimumBytes = 1 << 20
    /// `GALEN_BUFFER_CACHE_MIB`, else 2 GiB.
    static let capacityBytes: Int = {
        let mebibytes = ProcessInfo.processInfo.environment["GALEN_BUFFER_CACHE_MIB"].flatMap(Int.init) ?? 2048
        return max(0, mebibytes) << 20
    }()
    private static let pageBytes = 4096
    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var cachedBytes = 0

    private static func rounded(_ bytes: Int) -> Int { (bytes + pageBytes - 1) / pageBytes * pageBytes }

    /// A buffer of at least `bytes` (page-aligned), or nil below `minimumBytes` (then malloc serves).
    static func take(_ bytes: Int) -> UnsafeMutableRawPointer? {
        guard bytes >= minimumBytes else { return nil }
        let size = rounded(bytes)
        lock.lock()
        if let buffer = free[size]?.popLast() {
            cachedBytes -= size
            lock.unlock()
            return buffer
        }
        lock.unlock()
        guard let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            mapped != MAP_FAILED
        else {
            fatalError("TensorStorage: cannot map \(size) bytes for a tensor (out of memory)")
        }
        return mapped
    }

    /// Takes back a buffer from `take`: cached, or unmapped when the cache is full. Returns false
    /// for sizes `take` does not serve (malloc's buffers).
    static func give(_ buffer: UnsafeMutableRawPointer, _ bytes: Int) -> Bool {
        guard bytes >= minimumBytes else { return false }
        let size = rounded(bytes)
        lock.lock()
        if cachedBytes + size <= capacityBytes {
            free[size, default: []].append(buffer)
            cachedBytes += size
            lock.unlock()
            return true
        }
        lock.unlock()
        munmap(buffer, size)
        return true
    }

    /// Unmaps every cached buffer (tests start from an empty cache with it).
    static func release() {
        lock.lock()
        let buffers = free
        free = [:]
        cachedBytes = 0
        lock.unlock()
        for (size, list) in buffers { for buffer in list { munmap(buffer, size) } }
    }
}
