import Foundation

/// Vectorized transcendental functions. Scalar `expf` costs ~3.6 ns per element here; these
/// evaluate eight lanes at once (with `-target-cpu haswell`, one AVX2 register). e^x is within
/// 2 ulp of expf, as PyTorch's own vectorized kernels; tanh loses up to about 20 ulp (2e-6
/// relative) just above |x| = 1/16, where its formula cancels (VectorKernelTests measures both).
enum VectorMath {
    typealias Vector = SIMD8<Float>

    /// a·b + c. Fused (one rounding, one instruction) where the build targets FMA hardware:
    /// Scripts/env.sh defines GALEN_FMA together with -target-cpu haswell. Elsewhere it is a multiply
    /// and an add, because a fused multiply-add without the instruction is a library call per lane.
    /// Unfused, each step of a polynomial is two dependent instructions; e^x's chain of them bound
    /// the softmax rows of attention (2.6% of a transformer training step in perf).
    @inline(__always)
    static func multiplyAdd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector {
        #if GALEN_FMA
        c.addingProduct(a, b)
        #else
        a * b + c
        #endif
    }

    /// e^x for eight lanes: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial,
    /// 2^n put straight into the exponent bits.
    @inline(__always)
    static func exp(_ input: Vector) -> Vector {
        // Compare-and-blend rather than `clamped`, whose pointwiseMin/Max calls were not inlined
        // (5% of an LSTM training step in perf). A NaN input stays NaN either way.
        let low = Vector(repeating: -87.336_54), high = Vector(repeating: 88.722_83)
        let x = input.replacing(with: low, where: input .< low).replacing(with: high, where: input .> high)
        let n = (x * 1.442_695_04).rounded(.toNearestOrEven)
        // ln2 split in two so that n·ln2 is exact enough for large |n|.
        var r = multiplyAdd(n, Vector(repeating: -0.693_359_375), x)
        r = multiplyAdd(n, Vector(repeating: 2.121_944_4e-4), r)
        var p = Vector(repeating: 1.987_569_1e-4)
        p = multiplyAdd(p, r, Vector(repeating: 1.398_199_9e-3))
        p = multiplyAdd(p, r, Vector(repeating: 8.333_452e-3))
        p = multiplyAdd(p, r, Vector(repeating: 4.166_579_6e-2))
        p = multiplyAdd(p, r, Vector(repeating: 1.666_666_5e-1))
        p = multiplyAdd(p, r, Vector(repeating: 0.5))
        p = multiplyAdd(p, r * r, r + 1)
        // n is an integer-valued float in [-127, 128]; adding 1.5·2²³ puts it in the low mantissa
        // bits, a far cheaper conversion than SIMD8<Int32>(n, rounding:), which is scalarized.
        let integer = unsafeBitCast(n + 12_582_912, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let exponent = (integer &+ 127) &<< 23
        let scale = unsafeBitCast(exponent, to: Vector.self)
        // Inputs below the clamp give exactly 0 like expf; the clamp alone would give a tiny value.
        return (p * scale).replacing(with: 0, where: input .< -87.336_54)
    }

    /// e^x on `count` values from `source` into `destination` (they may be the same buffer).
    static func exp(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(source + i).loadUnaligned(as: Vector.self)
            UnsafeMutableRawPointer(destination + i).storeBytes(of: exp(v), as: Vector.self)
            i += 8
        }
        while i < count {
            destination[i] = Foundation.exp(source[i])
            i += 1
        }
    }

    /// 1 / (1 + e^-x) for eight lanes.
    @inline(__always)
    static func sigmoid(_ v: Vector) -> Vector { 1 / (1 + exp(-v)) }

    /// tanh(x) for eight lanes, as 1 - 2 / (e^{2x} + 1) (exact at ±∞, no overflow to NaN).
    @inline(__always)
    static func tanh(_ v: Vector) -> Vector {
        // Near zero the subtraction loses digits; an odd polynomial is accurate there.
        let small = abs(v) .< 0.0625
        let v2 = v * v
        var series = multiplyAdd(v2, Vector(repeating: -17.0 / 315), Vector(repeating: 2.0 / 15))
        series = multiplyAdd(series, v2, Vector(repeating: -1.0 / 3))
        series = multiplyAdd(series, v2, Vector(repeating: 1)) * v
        let t = 1 - 2 / (exp(2 * v) + 1)
        return t.replacing(with: series, where: small)
    }

    // Reductions with sixteen partial sums (two registers, for two additions in flight), added
    // up in a fixed order: the same bits on every call, unlike a reduction split over threads.
    // A plain `for` loop cannot be vectorized by the compiler, which must keep its order of
    // floating-point additions.

    /// Σ x[j] over `count` values.
    static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var (a, b) = (Vector(), Vector())
        var j = 0
        while j + 16 <= count {
            a += load(x + j)
            b += load(x + j + 8)
            j += 16
        }
        var total = (a + b).sum()
        while j < count {
            total += x[j]
            j += 1
        }
        return total
    }

    /// Σ x[j]·y[j] over `count` values.
    static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        var (a, b) = (Vector(), Vector())
        var j = 0
        while j + 16 <= count {
            a += load(x + j) * load(y + j)
            b += load(x + j + 8) * load(y + j + 8)
            j += 16
        }
        var total = (a + b).sum()
        while j < count {
            total += x[j] * y[j]
            j += 1
        }
        return total
    }

    /// Σ g[j]·(x[j] − center) over `count` values.
    static func dot(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, centeredOn center: Float, count: Int) -> Float {
        var (a, b) = (Vector(), Vector())
        let c = Vector(repeating: center)
        var j = 0
        while j + 16 <= count {
            a += load(g + j) * (load(x + j) - c)
            b += load(g + j + 8) * (load(x + j + 8) - c)
            j += 16
        }
        var total = (a + b).sum()
        while j < count {
            total += g[j] * (x[j] - center)
            j += 1
        }
        return total
    }

    /// Σ (x[j] − center)² over `count` values.
    static func sumOfSquares(_ x: UnsafePointer<Float>, centeredOn center: Float, count: Int) -> Float {
        var (a, b) = (Vector(), Vector())
        let c = Vector(repeating: center)
        var j = 0
        while j + 16 <= count {
            let (u, v) = (load(x + j) - c, load(x + j + 8) - c)
            a += u * u
            b += v * v
            j += 16
        }
        var total = (a + b).sum()
        while j < count {
            total += (x[j] - center) * (x[j] - center)
            j += 1
        }
        return total
    }

    /// The largest of `count` values (−∞ for none; NaNs are skipped, as `Swift.max` in a loop).
    static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var m = Vector(repeating: -.infinity)
        var j = 0
        while j + 8 <= count {
            let v = load(x + j)
            m = m.replacing(with: v, where: v .> m)
            j += 8
        }
        var result = m.max()
        while j < count {
            result = Swift.max(result, x[j])
            j += 1
        }
        return result
    }

    /// x[j] ← e^(x[j] − shift) in place, returning Σ of the new values: a softmax row in one pass.
    static func exponentiateShifted(_ x: UnsafeMutablePointer<Float>, shift: Float, count: Int) -> Float {
        var total = Vector()
        let offset = Vector(repeating: shift)
        var j = 0
        while j + 8 <= count {
            let e = exp(load(x + j) - offset)
            store(e, x + j)
            total += e
            j += 8
        }
        var result = total.sum()
        while j < count {
            x[j] = Foundation.exp(x[j] - shift)
            result += x[j]
            j += 1
        }
        return result
    }

    /// target[j] += source[j] over `count` values (the buffers must not overlap). Written out
    /// because the compiler keeps such a loop scalar when it cannot rule out aliasing; scalar, the
    /// recurrent backward's per-step add of the output gradient could keep only a few cache misses
    /// in flight and took 6.5% of an LSTM training step.
    static func add(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        var j = 0
        while j + 8 <= count {
            store(load(target + j) + load(source + j), target + j)
            j += 8
        }
        while j < count {
            target[j] += source[j]
            j += 1
        }
    }

    /// Eight floats from `pointer` (any alignment).
    @inline(__always)
    static func load(_ pointer: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(pointer).loadUnaligned(as: Vector.self)
    }

    /// Stores eight floats at `pointer` (any alignment).
    @inline(__always)
    static func store(_ value: Vector, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Vector.self)
    }

    /// 1 / (1 + e^-x) on `count` values.
    static func sigmoid(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            store(sigmoid(load(source + i)), destination + i)
            i += 8
        }
        while i < count {
            destination[i] = 1 / (1 + Foundation.exp(-source[i]))
            i += 1
        }
    }

    /// tanh(x) on `count` values (see `tanh(_: Vector)`).
    static func tanh(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            store(tanh(load(source + i)), destination + i)
            i += 8
        }
        while i < count {
            destination[i] = Foundation.tanh(source[i])
            i += 1
        }
    }
}

@inline(__always)
private func abs(_ v: SIMD8<Float>) -> SIMD8<Float> {
    v.replacing(with: -v, where: v .< 0)
}
