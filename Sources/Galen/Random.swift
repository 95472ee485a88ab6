import Foundation

/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64).
///
/// The same seed gives the same stream on every machine and thread count. Galen has one
/// generator type: the process-wide `Generator.default` and explicit instances passed to the
/// functions that draw random numbers (initializers, dropout, shuffling, augmentation).
public final class Generator: @unchecked Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    // Guards `state` when the default generator is shared across threads.
    private let lock = NSLock()

    /// The generator used when none is passed: the process-wide one, or the one that
    /// `withDefault(_:_:)` set for the code running inside it. Seed it with `manualSeed`.
    public static var `default`: Generator { scopedDefault ?? processDefault }

    private static let processDefault = Generator(seed: 0x5eed)
    @TaskLocal private static var scopedDefault: Generator?

    /// Runs `body` with `generator` as `Generator.default` (for this thread or task only), so a
    /// training run draws its initial weights and dropout masks from its own stream, and another
    /// run or test on another thread cannot move it.
    public static func withDefault<Result>(_ generator: Generator, _ body: () throws -> Result) rethrows -> Result {
        try $scopedDefault.withValue(generator, operation: body)
    }

    /// A generator whose stream is fully determined by `seed`.
    public init(seed: UInt64) {
        reseed(seed)
    }

    /// Restarts the stream as if freshly created with `seed`.
    public func reseed(_ seed: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        var mixer = seed
        state = (Self.splitMix(&mixer), Self.splitMix(&mixer), Self.splitMix(&mixer), Self.splitMix(&mixer))
    }

    /// The full generator state, for checkpoints; assigning it resumes the stream exactly.
    public var stateWords: [UInt64] {
        get {
            lock.lock()
            defer { lock.unlock() }
            return [state.0, state.1, state.2, state.3]
        }
        set {
            check(newValue.count == 4, "Generator.stateWords: expected 4 words, got \(newValue.count)")
            lock.lock()
            defer { lock.unlock() }
            state = (newValue[0], newValue[1], newValue[2], newValue[3])
        }
    }

    private static func splitMix(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    private func nextUnlocked() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }

    /// Runs `body` with exclusive access to the raw stream (one lock for many draws).
    @inline(__always)
    func withStream<Result>(_ body: (inout Stream) -> Result) -> Result {
        lock.lock()
        defer { lock.unlock() }
        var stream = Stream(generator: self)
        return body(&stream)
    }

    /// Raw access to the generator while its lock is held.
    struct Stream {
        let generator: Generator
        @inline(__always) mutating func next() -> UInt64 { generator.nextUnlocked() }
        /// Uniform in [0, 1) with 24 random bits (every Float32 step in the interval).
        @inline(__always) mutating func nextFloat() -> Float {
            Float(next() >> 40) * (1.0 / 16_777_216.0)
        }
        /// Uniform in [0, 1) with 53 random bits.
        @inline(__always) mutating func nextDouble() -> Double {
            Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        }
        /// Uniform integer in 0..<bound without modulo bias (Lemire's method).
        @inline(__always) mutating func nextInt(below bound: Int) -> Int {
            check(bound > 0, "random integer: upper bound \(bound) must be positive")
            let limit = UInt64(bound)
            var product = next().multipliedFullWidth(by: limit)
            if product.low < limit {
                let threshold = (0 &- limit) % limit
                while product.low < threshold { product = next().multipliedFullWidth(by: limit) }
            }
            return Int(product.high)
        }
    }

    /// The next 64 random bits.
    public func next() -> UInt64 { withStream { $0.next() } }
    /// A uniform Float in [0, 1).
    public func nextFloat() -> Float { withStream { $0.nextFloat() } }
    /// A uniform Double in [0, 1).
    public func nextDouble() -> Double { withStream { $0.nextDouble() } }
    /// A uniform integer in 0..<bound.
    public func nextInt(below bound: Int) -> Int { withStream { $0.nextInt(below: bound) } }

    /// Fills `count` values with standard normal draws (Box–Muller on pairs, in order).
    func fillNormal(_ destination: UnsafeMutablePointer<Float>, count: Int, mean: Float, std: Float) {
        withStream { stream in
            var i = 0
            while i < count {
                // 1 - u keeps the logarithm finite.
                let u1 = 1.0 - stream.nextDouble()
                let u2 = stream.nextDouble()
                let radius = (-2.0 * Foundation.log(u1)).squareRoot()
                let angle = 2.0 * Double.pi * u2
                destination[i] = mean + std * Float(radius * Foundation.cos(angle))
                if i + 1 < count { destination[i + 1] = mean + std * Float(radius * Foundation.sin(angle)) }
                i += 2
            }
        }
    }

    /// Fills `count` values uniformly in [low, high).
    func fillUniform(_ destination: UnsafeMutablePointer<Float>, count: Int, low: Float, high: Float) {
        withStream { stream in
            let width = high - low
            for i in 0..<count { destination[i] = low + width * stream.nextFloat() }
        }
    }

    /// A uniformly random permutation of 0..<n (Fisher–Yates).
    public func permutation(_ n: Int) -> [Int] {
        var values = Array(0..<n)
        withStream { stream in
            if n > 1 {
                for i in stride(from: n - 1, to: 0, by: -1) {
                    values.swapAt(i, stream.nextInt(below: i + 1))
                }
            }
        }
        return values
    }
}

/// Seeds the default generator (PyTorch's `torch.manual_seed`).
public func manualSeed(_ seed: UInt64) {
    Generator.default.reseed(seed)
}
