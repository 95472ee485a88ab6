import Foundation
import Galen

/// How a spatial operation reads the source between pixel centres.
enum Resampling {
    /// Bilinear interpolation (images).
    case bilinear
    /// The nearest pixel (masks: label values are never blended).
    case nearest
}

/// The output-to-source map of an affine warp in pixel units about the image centre: the output
/// pixel whose centre lies (u, v) from the image centre (x right, y down) reads the source at
/// `(m00·u + m01·v + offsetX, m10·u + m11·v + offsetY)`, also measured from the centre.
struct AffineMap: Equatable {
    var m00: Float, m01: Float, m10: Float, m11: Float
    var offsetX: Float, offsetY: Float

    /// The inverse map of "rotate the content by `degrees` counter-clockwise as displayed (y
    /// down), scale it by `scale` about the centre, then shift it by `translation` pixels".
    init(degrees: Float, translation: (x: Float, y: Float), scale: Float) {
        check(scale > 0 && scale.isFinite, "affine: scale must be positive and finite, got \(scale)")
        let radians = Double(degrees) * .pi / 180
        let c = Float(cos(radians)) / scale, s = Float(sin(radians)) / scale
        // Forward (source → output) is p ↦ scale·R·p + t with R = [[cos, sin], [−sin, cos]] in
        // y-down coordinates; its inverse is (p − t) ↦ R⁻¹(p − t) / scale.
        m00 = c
        m01 = -s
        m10 = s
        m11 = c
        offsetX = -(c * translation.x - s * translation.y)
        offsetY = -(s * translation.x + c * translation.y)
    }
}

/// A geometric operation on the last two dimensions of a tensor. The spatial transforms build one
/// and apply it to the image (bilinear, `fill` outside) and, with nearest sampling and 0 outside,
/// to a mask in `label` or `target` whose last two dimensions equal the image's height and width.
enum SpatialOperation {
    /// Mirror left–right (`horizontal`) or top–bottom.
    case flip(horizontal: Bool)
    /// The `height`×`width` window whose top-left pixel is (`top`, `left`) in the source; pixels
    /// outside the source are filled. Crops, pads and padded random crops are all windows.
    case window(top: Int, left: Int, height: Int, width: Int)
    /// Resize with half-pixel centres (PyTorch `align_corners=False`, no antialiasing).
    case resize(height: Int, width: Int)
    /// Affine warp keeping the size.
    case affine(AffineMap)

    func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        switch self {
        case .flip, .affine: return (height, width)
        case .window(_, _, let h, let w), .resize(let h, let w): return (h, w)
        }
    }

    /// Runs the operation on `planes` contiguous planes of `height`×`width` at `source`, writing
    /// planes of `outputSize` at `destination`.
    func run(
        source: UnsafePointer<Float>, destination: UnsafeMutablePointer<Float>, planes: Int, height: Int, width: Int,
        resampling: Resampling, fill: Float
    ) {
        let (outHeight, outWidth) = outputSize(height: height, width: width)
        let inPlane = height &* width, outPlane = outHeight &* outWidth
        switch self {
        case .flip(let horizontal):
            for p in 0..<planes {
                let src = source + p &* inPlane, dst = destination + p &* outPlane
                for row in 0..<height {
                    if horizontal {
                        let s = src + row &* width, d = dst + row &* width
                        for column in 0..<width { d[column] = s[width &- 1 &- column] }
                    } else {
                        (dst + row &* width).update(from: src + (height &- 1 &- row) &* width, count: width)
                    }
                }
            }
        case .window(let top, let left, _, _):
            // The columns of the window that lie inside the source, as a range of output columns.
            let firstInside = min(max(0, -left), outWidth)
            let endInside = max(firstInside, min(outWidth, width - left))
            for p in 0..<planes {
                let src = source + p &* inPlane, dst = destination + p &* outPlane
                for row in 0..<outHeight {
                    let d = dst + row &* outWidth
                    let sourceRow = top + row
                    guard sourceRow >= 0 && sourceRow < height else {
                        d.update(repeating: fill, count: outWidth)
                        continue
                    }
                    d.update(repeating: fill, count: firstInside)
                    (d + firstInside).update(
                        from: src + (sourceRow &* width &+ left &+ firstInside), count: endInside &- firstInside)
                    (d + endInside).update(repeating: fill, count: outWidth &- endInside)
                }
            }
        case .resize:
            resizePlanes(source, destination, planes: planes, height: height, width: width,
                   outHeight: outHeight, outWidth: outWidth, resampling: resampling)
        case .affine(let map):
            warpPlanes(source, destination, planes: planes, height: height, width: width, map: map,
                 resampling: resampling, fill: fill)
        }
    }
}

/// PyTorch's `upsample_bilinear2d` (align_corners=False) and `upsample_nearest_exact2d`: the
/// source coordinate of output index i is (i + 0.5)·in/out − 0.5 (clamped at 0) for bilinear, and
/// ⌊(i + 0.5)·in/out⌋ for nearest, in Float32 as PyTorch computes them.
private func resizePlanes(
    _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, planes: Int, height: Int, width: Int,
    outHeight: Int, outWidth: Int, resampling: Resampling
) {
    /// Per output index: the two source indices and their weights.
    func taps(input: Int, output: Int) -> [(Int, Int, Float, Float)] {
        let scale = Float(input) / Float(output)
        return (0..<output).map { i in
            switch resampling {
            case .nearest:
                let index = min(Int((Float(i) + 0.5) * scale), input - 1)
                return (index, index, 1, 0)
            case .bilinear:
                let position = max(scale * (Float(i) + 0.5) - 0.5, 0)
                let index0 = Int(position)
                let index1 = index0 + (index0 < input - 1 ? 1 : 0)
                let lambda1 = position - Float(index0)
                return (index0, index1, 1 - lambda1, lambda1)
            }
        }
    }
    let rows = taps(input: height, output: outHeight), columns = taps(input: width, output: outWidth)
    for p in 0..<planes {
        let src = source + p &* height &* width, dst = destination + p &* outHeight &* outWidth
        for (i, (r0, r1, h0, h1)) in rows.enumerated() {
            let row0 = src + r0 &* width, row1 = src + r1 &* width, d = dst + i &* outWidth
            for (j, (c0, c1, w0, w1)) in columns.enumerated() {
                d[j] = resampling == .nearest
                    ? row0[c0] : h0 * (w0 * row0[c0] + w1 * row0[c1]) + h1 * (w0 * row1[c0] + w1 * row1[c1])
            }
        }
    }
}

/// Samples each output pixel at the source point the affine map gives, as `F.grid_sample` with
/// `align_corners=False` and zero padding does (with `fill` in place of zero): bilinear weights over
/// the four neighbours, each neighbour outside the image reading `fill`; nearest rounds half to even.
private func warpPlanes(
    _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, planes: Int, height: Int, width: Int,
    map: AffineMap, resampling: Resampling, fill: Float
) {
    let halfWidth = Float(width) / 2, halfHeight = Float(height) / 2
    // From centre offsets to source pixel indices (pixel centres at integers).
    let shiftX = map.offsetX + halfWidth - 0.5, shiftY = map.offsetY + halfHeight - 0.5
    @inline(__always) func value(_ src: UnsafePointer<Float>, _ row: Int, _ column: Int) -> Float {
        row >= 0 && row < height && column >= 0 && column < width ? src[row &* width &+ column] : fill
    }
    for p in 0..<planes {
        let src = source + p &* height &* width, dst = destination + p &* height &* width
        for i in 0..<height {
            let v = Float(i) + 0.5 - halfHeight
            for j in 0..<width {
                let u = Float(j) + 0.5 - halfWidth
                let x = map.m00 * u + map.m01 * v + shiftX
                let y = map.m10 * u + map.m11 * v + shiftY
                // Far outside (or not finite): every neighbour is fill; also keeps Int() in range.
                guard x > -2 && x < Float(width) + 1 && y > -2 && y < Float(height) + 1 else {
                    dst[i &* width &+ j] = fill
                    continue
                }
                switch resampling {
                case .nearest:
                    dst[i &* width &+ j] = value(
                        src, Int(y.rounded(.toNearestOrEven)), Int(x.rounded(.toNearestOrEven)))
                case .bilinear:
                    let x0 = x.rounded(.down), y0 = y.rounded(.down)
                    let east = x - x0, west = x0 + 1 - x, south = y - y0, north = y0 + 1 - y
                    let c = Int(x0), r = Int(y0)
                    dst[i &* width &+ j] = west * north * value(src, r, c) + east * north * value(src, r, c + 1)
                        + west * south * value(src, r + 1, c) + east * south * value(src, r + 1, c + 1)
                }
            }
        }
    }
}

// MARK: Applying an operation to an example

/// The height and width of a tensor's last two dimensions, and how many planes precede them.
struct PlaneLayout {
    let planes: Int
    let height: Int
    let width: Int

    init(_ shape: [Int], what: String) {
        check(shape.count >= 2, "\(what): expected an image of shape [C, H, W] or [H, W], got \(shape)")
        height = shape[shape.count - 2]
        width = shape[shape.count - 1]
        planes = shape.dropLast(2).reduce(1, *)
    }
}

/// The tensor's values as a contiguous tensor (the tensor itself when already contiguous).
func contiguousImage(_ tensor: Tensor) -> Tensor {
    tensor.isContiguous ? tensor : tensor.copy()
}

/// `body(source, destination, count)` into a fresh tensor of `shape` from `tensor`'s values.
func mapValues(
    _ tensor: Tensor, shape: [Int], _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
) -> Tensor {
    let source = contiguousImage(tensor)
    let storage = TensorStorage(uninitializedCount: Shape.count(shape))
    withExtendedLifetime(source) { body(UnsafePointer(source.storage.pointer + source.offset), storage.pointer) }
    return Tensor(storage: storage, shape: shape)
}

extension Example {
    /// The example with `operation` applied to the image (bilinear, `fill` outside) and to a mask in
    /// `label` or `target` that has the image's height and width (nearest, 0 outside).
    func applying(_ operation: SpatialOperation, fill: Float, what: String) -> Example {
        let layout = PlaneLayout(input.shape, what: what)
        let (outHeight, outWidth) = operation.outputSize(height: layout.height, width: layout.width)
        func outputShape(_ shape: [Int]) -> [Int] { shape.dropLast(2) + [outHeight, outWidth] }
        func isMask(_ shape: [Int]) -> Bool {
            shape.count >= 2 && shape[shape.count - 2] == layout.height && shape[shape.count - 1] == layout.width
        }
        func transformed(_ tensor: Tensor, _ resampling: Resampling, _ fill: Float) -> Tensor {
            let l = PlaneLayout(tensor.shape, what: what)
            return mapValues(tensor, shape: outputShape(tensor.shape)) { source, destination in
                operation.run(source: source, destination: destination, planes: l.planes, height: l.height,
                              width: l.width, resampling: resampling, fill: fill)
            }
        }

        var result = self
        result.input = transformed(input, .bilinear, fill)
        if let label, isMask(label.shape) {
            // Integer masks go through Float32, exact for labels below 2^24; nearest never blends.
            let values = transformed(Tensor(label.scalars.map(Float.init), shape: label.shape), .nearest, 0)
            result.label = IntTensor(values.scalars.map { Int($0) }, shape: values.shape)
        }
        if let target, isMask(target.shape) {
            result.target = transformed(target, .nearest, 0)
        }
        return result
    }
}
