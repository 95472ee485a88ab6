import Foundation
import Galen

/// Voxel types the NIfTI writer can store.
public enum NIfTIWriteType: Sendable {
    case float32, int16, uint8
    var code: Int16 { switch self { case .float32: 16; case .int16: 4; case .uint8: 2 } }
    var size: Int { switch self { case .float32: 4; case .int16: 2; case .uint8: 1 } }
}

/// Writes `data` (shape `[x, y, z, …]`, rank 1…7, indexed like ``NIfTIImage/data``) as a
/// single-file little-endian NIfTI-1 image, gzip-compressed when `path` ends in `.gz`, atomically.
///
/// `affine` (4×4, voxel index → world) is stored as the sform (`sform_code` = `sformCode`) and,
/// decomposed into spacing, rotation, qfac and offset, as the qform (`qform_code` = `qformCode`);
/// a shear in the affine cannot be represented by the qform and is dropped there (the sform
/// keeps it). Integer types round values and clamp them to the type's range; no scaling is
/// stored (`scl_slope` = 1).
public func writeNIfTI(_ data: Tensor, affine: [[Double]], toPath path: String, type: NIfTIWriteType = .float32,
                       xyztUnits: Int = 2 | 8, description: String = "", qformCode: Int = 1, sformCode: Int = 1) throws {
    let shape = data.shape
    check(shape.count >= 1 && shape.count <= 7 && shape.allSatisfy { $0 >= 1 && $0 <= Int(Int16.max) },
          "writeNIfTI: NIfTI-1 needs rank 1…7 and sizes 1…32767, not \(shape)")
    check(affine.count >= 3 && affine.prefix(3).allSatisfy { $0.count == 4 }, "writeNIfTI: affine must be 4×4")
    var header = [UInt8](repeating: 0, count: 352)
    func put<T: FixedWidthInteger>(_ v: T, _ o: Int) {
        withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { header[o + i] = b } }
    }
    func putF(_ v: Double, _ o: Int) { put(Float(v).bitPattern, o) }
    put(Int32(348), 0)
    header[38] = UInt8(ascii: "r")
    put(Int16(shape.count), 40)
    for (i, d) in shape.enumerated() { put(Int16(d), 42 + 2 * i) }
    for i in shape.count..<7 { put(Int16(1), 42 + 2 * i) }
    put(type.code, 70)
    put(Int16(type.size * 8), 72)

    // Columns of the 3×3 part: their lengths are the spacing; a negative determinant gives qfac −1.
    let m = (0..<3).map { i in (0..<3).map { j in affine[i][j] } }
    var spacing: [Double] = []
    for j in 0..<3 {
        let s2: Double = m[0][j] * m[0][j] + m[1][j] * m[1][j] + m[2][j] * m[2][j]
        spacing.append(s2 == 0 ? 1 : s2.squareRoot())
    }
    var r = (0..<3).map { i in (0..<3).map { j in m[i][j] / spacing[j] } }
    let minor0: Double = r[1][1] * r[2][2] - r[1][2] * r[2][1]
    let minor1: Double = r[1][0] * r[2][2] - r[1][2] * r[2][0]
    let minor2: Double = r[1][0] * r[2][1] - r[1][1] * r[2][0]
    let det: Double = r[0][0] * minor0 - r[0][1] * minor1 + r[0][2] * minor2
    let qfac: Double = det < 0 ? -1 : 1
    if qfac < 0 { for i in 0..<3 { r[i][2] = -r[i][2] } }
    let (b, c, d) = quaternion(fromRotation: r)
    putF(qfac, 76)
    for i in 0..<3 { putF(spacing[i], 80 + 4 * i) }
    for i in 3..<7 { putF(1, 80 + 4 * i) }
    putF(352, 108)
    putF(1, 112); putF(0, 116)
    header[123] = UInt8(truncatingIfNeeded: xyztUnits)
    for (i, ch) in description.utf8.prefix(79).enumerated() { header[148 + i] = ch }
    put(Int16(qformCode), 252); put(Int16(sformCode), 254)
    putF(b, 256); putF(c, 260); putF(d, 264)
    for i in 0..<3 { putF(affine[i][3], 268 + 4 * i) }
    for row in 0..<3 { for j in 0..<4 { putF(affine[row][j], 280 + 16 * row + 4 * j) } }
    for (i, ch) in "n+1\0".utf8.enumerated() { header[344 + i] = ch }

    // Reorder row-major [x, y, z, …] into NIfTI's x-fastest order.
    let values = data.scalars
    let count = values.count
    var body = [UInt8](repeating: 0, count: count * type.size)
    var rowStride = [Int](repeating: 1, count: shape.count)
    for axis in stride(from: shape.count - 2, through: 0, by: -1) { rowStride[axis] = rowStride[axis + 1] * shape[axis + 1] }
    var index = [Int](repeating: 0, count: shape.count)
    var source = 0
    body.withUnsafeMutableBytes { out in
        for f in 0..<count {
            let v = values[source]
            switch type {
            case .float32: out.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * f, as: UInt32.self)
            case .int16:
                let x = v.isNaN ? 0 : Int16(max(-32768, min(32767, v.rounded())))
                out.storeBytes(of: x.littleEndian, toByteOffset: 2 * f, as: Int16.self)
            case .uint8: out[f] = v.isNaN ? 0 : UInt8(max(0, min(255, v.rounded())))
            }
            var axis = 0
            while axis < shape.count {
                index[axis] += 1; source += rowStride[axis]
                if index[axis] < shape[axis] { break }
                source -= rowStride[axis] * shape[axis]; index[axis] = 0; axis += 1
            }
        }
    }
    let file = header + body
    try writeFileBytes(path.hasSuffix(".gz") ? deflate(file, format: .gzip) : file, atPath: path)
}

/// (b, c, d) of the unit quaternion with a ≥ 0 for a proper rotation matrix (nifti1_io's method).
func quaternion(fromRotation r: [[Double]]) -> (Double, Double, Double) {
    let trace = r[0][0] + r[1][1] + r[2][2]
    var a = 0.5 * (1 + trace).squareRoot(), b = 0.0, c = 0.0, d = 0.0
    if (1 + trace) > 0.5 {
        b = 0.25 * (r[2][1] - r[1][2]) / a
        c = 0.25 * (r[0][2] - r[2][0]) / a
        d = 0.25 * (r[1][0] - r[0][1]) / a
    } else {
        let xd = 1 + r[0][0] - (r[1][1] + r[2][2]), yd = 1 + r[1][1] - (r[0][0] + r[2][2])
        let zd = 1 + r[2][2] - (r[0][0] + r[1][1])
        if xd > 1 {
            b = 0.5 * xd.squareRoot(); c = 0.25 * (r[0][1] + r[1][0]) / b; d = 0.25 * (r[0][2] + r[2][0]) / b
            a = 0.25 * (r[2][1] - r[1][2]) / b
        } else if yd > 1 {
            c = 0.5 * yd.squareRoot(); b = 0.25 * (r[0][1] + r[1][0]) / c; d = 0.25 * (r[1][2] + r[2][1]) / c
            a = 0.25 * (r[0][2] - r[2][0]) / c
        } else {
            d = 0.5 * zd.squareRoot(); b = 0.25 * (r[0][2] + r[2][0]) / d; c = 0.25 * (r[1][2] + r[2][1]) / d
            a = 0.25 * (r[1][0] - r[0][1]) / d
        }
        if a < 0 { b = -b; c = -c; d = -d }
    }
    return (b, c, d)
}
