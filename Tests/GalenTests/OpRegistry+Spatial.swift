import Galen
import GalenTestSupport

/// A (height, width) attribute written either as one number for both axes or as a list of two.
private func pair(_ a: Attributes, _ key: String, _ fallback: Int) -> (Int, Int) {
    guard a.has(key) else { return (fallback, fallback) }
    if let list = a.values[key] as? [Any] {
        let values = a.ints(key)
        precondition(list.count == 2, "fixture attribute \(key) must have two entries")
        return (values[0], values[1])
    }
    let value = a.int(key)
    return (value, value)
}

/// Whether every attribute in `keys` is absent or a single number, so that the test can call the
/// single-Int overload and exercise it too.
private func allScalar(_ a: Attributes, _ keys: [String]) -> Bool {
    keys.allSatisfy { !(a.values[$0] is [Any]) }
}

/// A (height, width) scale factor written as one number or a list of two; nil when absent.
private func scalePair(_ a: Attributes, _ key: String) -> (Float, Float)? {
    guard a.has(key) else { return nil }
    if let list = a.values[key] as? [Any] {
        let values = list.map { Float(($0 as? Double) ?? Double($0 as! Int)) }
        return (values[0], values[1])
    }
    let value = a.float(key)
    return (value, value)
}

private func optionalPair(_ a: Attributes, _ key: String) -> (Int, Int)? {
    a.has(key) ? pair(a, key, 0) : nil
}

extension OpRegistry {
    /// Convolution, pooling and upsampling ops, keyed by the op names in Scripts/fixtures/cases_spatial.py.
    static let spatial: [String: OpFunction] = [
        "conv2d": { x, _, a in
            let bias = x.count > 2 ? x[2] : nil
            if allScalar(a, ["stride", "padding", "dilation"]) {
                return conv2d(
                    x[0], weight: x[1], bias: bias, stride: a.int("stride", 1), padding: a.int("padding", 0),
                    dilation: a.int("dilation", 1), groups: a.int("groups", 1))
            }
            return conv2d(
                x[0], weight: x[1], bias: bias, stride: pair(a, "stride", 1), padding: pair(a, "padding", 0),
                dilation: pair(a, "dilation", 1), groups: a.int("groups", 1))
        },
        "conv1d": { x, _, a in
            conv1d(
                x[0], weight: x[1], bias: x.count > 2 ? x[2] : nil, stride: a.int("stride", 1),
                padding: a.int("padding", 0), dilation: a.int("dilation", 1), groups: a.int("groups", 1))
        },
        "conv_transpose2d": { x, _, a in
            let bias = x.count > 2 ? x[2] : nil
            if allScalar(a, ["stride", "padding", "output_padding", "dilation"]) {
                return convTranspose2d(
                    x[0], weight: x[1], bias: bias, stride: a.int("stride", 1), padding: a.int("padding", 0),
                    outputPadding: a.int("output_padding", 0), dilation: a.int("dilation", 1),
                    groups: a.int("groups", 1))
            }
            return convTranspose2d(
                x[0], weight: x[1], bias: bias, stride: pair(a, "stride", 1), padding: pair(a, "padding", 0),
                outputPadding: pair(a, "output_padding", 0), dilation: pair(a, "dilation", 1),
                groups: a.int("groups", 1))
        },
        "max_pool2d": { x, _, a in
            if allScalar(a, ["kernel_size", "stride", "padding", "dilation"]) {
                return maxPool2d(
                    x[0], kernelSize: a.int("kernel_size"), stride: a.has("stride") ? a.int("stride") : nil,
                    padding: a.int("padding", 0), dilation: a.int("dilation", 1), ceilMode: a.bool("ceil_mode"))
            }
            return maxPool2d(
                x[0], kernelSize: pair(a, "kernel_size", 0), stride: optionalPair(a, "stride"),
                padding: pair(a, "padding", 0), dilation: pair(a, "dilation", 1), ceilMode: a.bool("ceil_mode"))
        },
        "max_pool2d_indices": { x, _, a in
            maxPool2dWithIndices(
                x[0], kernelSize: pair(a, "kernel_size", 0), stride: optionalPair(a, "stride"),
                padding: pair(a, "padding", 0), dilation: pair(a, "dilation", 1), ceilMode: a.bool("ceil_mode")
            ).indices.toFloat()
        },
        "avg_pool2d": { x, _, a in
            let divisor = a.has("divisor_override") ? a.int("divisor_override") : nil
            if allScalar(a, ["kernel_size", "stride", "padding"]) {
                return avgPool2d(
                    x[0], kernelSize: a.int("kernel_size"), stride: a.has("stride") ? a.int("stride") : nil,
                    padding: a.int("padding", 0), ceilMode: a.bool("ceil_mode"),
                    countIncludePad: a.bool("count_include_pad", true), divisorOverride: divisor)
            }
            return avgPool2d(
                x[0], kernelSize: pair(a, "kernel_size", 0), stride: optionalPair(a, "stride"),
                padding: pair(a, "padding", 0), ceilMode: a.bool("ceil_mode"),
                countIncludePad: a.bool("count_include_pad", true), divisorOverride: divisor)
        },
        "adaptive_avg_pool2d": { x, _, a in
            allScalar(a, ["output_size"])
                ? adaptiveAvgPool2d(x[0], outputSize: a.int("output_size"))
                : adaptiveAvgPool2d(x[0], outputSize: pair(a, "output_size", 0))
        },
        "upsample_nearest2d": { x, _, a in
            upsampleNearest2d(x[0], size: optionalPair(a, "size"), scaleFactor: scalePair(a, "scale_factor"))
        },
        "upsample_bilinear2d": { x, _, a in
            upsampleBilinear2d(
                x[0], size: optionalPair(a, "size"), scaleFactor: scalePair(a, "scale_factor"),
                alignCorners: a.bool("align_corners"))
        },
    ]
}
