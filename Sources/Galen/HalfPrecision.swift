// Widening of the 16-bit float formats found in checkpoints (F16, BF16) to Float32.
//
// Done on bit patterns rather than through Swift's `Float16`, which is unavailable on macOS on
// Intel, and so that the result is the same on every platform: every 16-bit value, NaN payloads
// included, maps to exactly one Float32 bit pattern.

/// The binary32 bit pattern of an IEEE 754 binary16 value. Exact for every input: zeros keep
/// their sign, subnormals become normal Float32 values, infinities stay infinite, and a NaN keeps
/// its sign and payload (shifted into the wider mantissa, not quieted).
@inline(__always)
public func float32Bits(fromFloat16Bits half: UInt16) -> UInt32 {
    let sign = UInt32(half & 0x8000) << 16
    let exponent = UInt32(half >> 10) & 0x1F
    let mantissa = UInt32(half) & 0x3FF
    switch exponent {
    case 0:
        if mantissa == 0 { return sign }
        // A subnormal is mantissa · 2^-24. Float32 has the range to write it as a normal number:
        // shift the mantissa up until its leading one reaches the implicit-bit position (bit 10),
        // lowering the exponent of 2^-14 (biased: 113) by one per shift.
        let shift = UInt32(mantissa.leadingZeroBitCount - 21)
        let normalized = (mantissa << shift) & 0x3FF
        return sign | ((113 - shift) << 23) | (normalized << 13)
    case 0x1F:
        // Infinity (mantissa 0) or NaN: all-ones exponent, payload kept in the top mantissa bits.
        return sign | 0x7F80_0000 | (mantissa << 13)
    default:
        // Rebias the exponent from 15 to 127; the mantissa gains 13 zero bits.
        return sign | ((exponent + 112) << 23) | (mantissa << 13)
    }
}

/// The binary32 bit pattern of a bfloat16 value. bfloat16 is the top half of a Float32, so this is
/// exact for every input, NaN payloads included.
@inline(__always)
public func float32Bits(fromBFloat16Bits brain: UInt16) -> UInt32 {
    UInt32(brain) << 16
}
