import Testing

@testable import Galen

/// Large tensor buffers are recycled by size instead of being faulted in afresh every step.
@Suite struct LargeBuffers {
    @Test func aDeadTensorsBufferServesTheNextOfItsSize() {
        LargeBufferCache.release()
        let count = 3 << 18  // 3 MiB of floats
        var first: TensorStorage? = TensorStorage(uninitializedCount: count)
        let address = first!.pointer
        address[count - 1] = 42
        first = nil
        let second = TensorStorage(uninitializedCount: count)
        #expect(second.pointer == address, "the cached buffer was not reused")
        // Another size gets its own buffer, and a size below 1 MiB stays with malloc.
        let other = TensorStorage(uninitializedCount: count + 4096)
        #expect(other.pointer != address)
        #expect(LargeBufferCache.take(LargeBufferCache.minimumBytes - 1) == nil)
        #expect(!LargeBufferCache.give(second.pointer, LargeBufferCache.minimumBytes - 1))
        // Zero-filled creation still zeroes a recycled buffer.
        withExtendedLifetime((second, other)) {}
        let zeros = Tensor.zeros([count])
        #expect(zeros.scalars.allSatisfy { $0 == 0 })
    }
}
