import Galen

// Overlap and boundary metrics for binary masks (any rank: [H, W] or [D, H, W], as flat arrays of
// Bool in C order plus the shape).
//
// Empty-mask policy (documented, and what the tests pin):
// - both masks empty: Dice = IoU = 1 and HD95 = 0 — the prediction agrees with the truth that
//   there is nothing to segment;
// - exactly one empty: Dice = IoU = 0 and HD95 = nil (undefined: there is no surface to measure
//   to); aggregate reports count these cases instead of inventing a distance.

/// Sørensen–Dice coefficient 2|A∩B| / (|A| + |B|).
public func dice(prediction: [Bool], target: [Bool]) -> Double {
    check(prediction.count == target.count, "dice: \(prediction.count) predicted voxels for \(target.count) target voxels")
    var both = 0, a = 0, b = 0
    for (p, t) in zip(prediction, target) {
        if p { a += 1 }
        if t { b += 1 }
        if p && t { both += 1 }
    }
    return a + b == 0 ? 1 : 2 * Double(both) / Double(a + b)
}

/// Jaccard index |A∩B| / |A∪B|.
public func intersectionOverUnion(prediction: [Bool], target: [Bool]) -> Double {
    check(prediction.count == target.count, "intersectionOverUnion: \(prediction.count) predicted voxels for \(target.count) target voxels")
    var both = 0, either = 0
    for (p, t) in zip(prediction, target) {
        if p && t { both += 1 }
        if p || t { either += 1 }
    }
    return either == 0 ? 1 : Double(both) / Double(either)
}

/// 95th-percentile symmetric Hausdorff distance between the surfaces of two masks, in the units
/// of `spacing` (voxel size per axis; 1 by default): the larger of the two directed 95th
/// percentiles of surface-to-nearest-surface distances, as MONAI's `compute_hausdorff_distance(
/// percentile=95)`. A surface voxel is a foreground voxel with a face neighbour in the background
/// or on the array border. See the empty-mask policy above.
public func hausdorffDistance95(prediction: [Bool], target: [Bool], shape: [Int], spacing: [Double]? = nil) -> Double? {
    hausdorffDistance(prediction: prediction, target: target, shape: shape, spacing: spacing, percentile: 95)
}

/// Symmetric Hausdorff distance at a percentile (100 = the classic maximum).
public func hausdorffDistance(prediction: [Bool], target: [Bool], shape: [Int], spacing: [Double]? = nil,
                              percentile: Double) -> Double? {
    let count = shape.reduce(1, *)
    check(prediction.count == count && target.count == count,
          "hausdorffDistance: masks of \(prediction.count) and \(target.count) voxels for shape \(shape)")
    let spacing = spacing ?? Array(repeating: 1, count: shape.count)
    check(spacing.count == shape.count, "hausdorffDistance: \(spacing.count) spacings for a rank-\(shape.count) shape")
    let predictedSurface = surface(of: prediction, shape: shape)
    let targetSurface = surface(of: target, shape: shape)
    let predictedEmpty = !predictedSurface.contains(true), targetEmpty = !targetSurface.contains(true)
    if predictedEmpty && targetEmpty { return 0 }
    if predictedEmpty || targetEmpty { return nil }
    let toTarget = squaredDistanceTransform(of: targetSurface, shape: shape, spacing: spacing)
    let toPrediction = squaredDistanceTransform(of: predictedSurface, shape: shape, spacing: spacing)
    let forward = (0..<count).filter { predictedSurface[$0] }.map { toTarget[$0].squareRoot() }
    let backward = (0..<count).filter { targetSurface[$0] }.map { toPrediction[$0].squareRoot() }
    return max(quantile(forward, percentile / 100)!, quantile(backward, percentile / 100)!)
}

/// Foreground voxels with a face neighbour outside the mask (the border counts as outside).
func surface(of mask: [Bool], shape: [Int]) -> [Bool] {
    let strides = Shape.contiguousStrides(shape)
    var result = Array(repeating: false, count: mask.count)
    var coordinate = Array(repeating: 0, count: shape.count)
    for i in 0..<mask.count {
        if mask[i] {
            var onSurface = false
            for axis in 0..<shape.count where !onSurface {
                let c = coordinate[axis]
                if c == 0 || c == shape[axis] - 1 || !mask[i - strides[axis]] || !mask[i + strides[axis]] {
                    onSurface = true
                }
            }
            result[i] = onSurface
        }
        // Advance the C-order coordinate.
        var axis = shape.count - 1
        while axis >= 0 {
            coordinate[axis] += 1
            if coordinate[axis] < shape[axis] { break }
            coordinate[axis] = 0
            axis -= 1
        }
    }
    return result
}

/// Exact squared Euclidean distance from every voxel to the nearest `true` voxel, with anisotropic
/// spacing: one pass of the Felzenszwalb–Huttenlocher lower envelope of parabolas per axis, so the
/// cost is linear in the voxel count (a brute-force pairwise search is quadratic in surface size).
func squaredDistanceTransform(of seeds: [Bool], shape: [Int], spacing: [Double]) -> [Double] {
    var distance = seeds.map { $0 ? 0 : Double.infinity }
    let strides = Shape.contiguousStrides(shape)
    for axis in 0..<shape.count {
        let n = shape[axis], stride = strides[axis]
        let step = spacing[axis]
        var line = [Double](repeating: 0, count: n)
        var output = [Double](repeating: 0, count: n)
        var vertices = [Int](repeating: 0, count: n)
        var boundaries = [Double](repeating: 0, count: n + 1)
        // Every line along `axis`: its start index has coordinate 0 on that axis.
        for start in 0..<distance.count where (start / stride) % n == 0 {
            for k in 0..<n { line[k] = distance[start + k * stride] }
            lowerEnvelope(line, step: step, vertices: &vertices, boundaries: &boundaries, output: &output)
            for k in 0..<n { distance[start + k * stride] = output[k] }
        }
    }
    return distance
}

/// One-dimensional squared distance transform of sampled function f with sample spacing `step`.
private func lowerEnvelope(_ f: [Double], step: Double, vertices v: inout [Int], boundaries z: inout [Double],
                           output d: inout [Double]) {
    let n = f.count
    var k = -1
    for q in 0..<n where f[q].isFinite {
        let position = Double(q) * step
        while k >= 0 {
            let p = Double(v[k]) * step
            let s = ((f[q] + position * position) - (f[v[k]] + p * p)) / (2 * (position - p))
            if s <= z[k] { k -= 1 } else {
                k += 1
                v[k] = q
                z[k] = s
                z[k + 1] = .infinity
                break
            }
        }
        if k < 0 {
            k = 0
            v[0] = q
            z[0] = -.infinity
            z[1] = .infinity
        }
    }
    if k < 0 {
        for q in 0..<n { d[q] = .infinity }
        return
    }
    var j = 0
    for q in 0..<n {
        let position = Double(q) * step
        while z[j + 1] < position { j += 1 }
        let p = Double(v[j]) * step
        d[q] = (position - p) * (position - p) + f[v[j]]
    }
}
