import Foundation
import Galen

// NIfTI-1 (348-byte header) and NIfTI-2 (540-byte header) images, single-file `.nii` and `.nii.gz`.
// Field offsets follow the published nifti1.h / nifti2.h. Input is untrusted: every field that
// sizes or places the data is checked against the file before use, and problems are thrown as
// `DataFormatError` naming the file and the field.

/// A NIfTI-1 or NIfTI-2 image: the header fields that matter for analysis, its affines and its
/// voxels.
///
/// **Axis order.** `data` has shape `[x, y, z, t, …]` (`dim[1]…dim[rank]`) and is indexed like
/// nibabel's `get_fdata()`: element `[i, j, k]` is voxel (i, j, k). NIfTI stores x fastest
/// (Fortran order); the reader reorders it so that the tensor is an ordinary contiguous row-major
/// tensor with that indexing.
public struct NIfTIImage {
    /// 1 or 2.
    public var version: Int
    /// NIfTI datatype code as stored (2 = uint8, 4 = int16, 16 = float32, …).
    public var datatypeCode: Int
    /// `dim[1]…dim[dim[0]]`.
    public var shape: [Int]
    /// `pixdim[0…7]` as stored; `pixdim[0]` is qfac, `pixdim[1…3]` the voxel spacing.
    public var pixdim: [Double]
    /// `pixdim[1…rank]`: spacing along each axis (in `spatialUnits` / `temporalUnits`).
    public var voxelSpacing: [Double] { (0..<shape.count).map { $0 + 1 < pixdim.count ? pixdim[$0 + 1] : 1 } }
    /// `xyzt_units` as stored: bits 0–2 spatial (2 = mm), bits 3–5 temporal (8 = s).
    public var xyztUnits: Int
    public var voxOffset: Int
    /// `scl_slope` and `scl_inter` as stored. They were applied to `data` when the slope is finite
    /// and nonzero (the NIfTI rule; nibabel does the same).
    public var sclSlope: Double
    public var sclInter: Double
    /// Whether `data` had slope and intercept applied.
    public var scalingApplied: Bool
    public var intentCode: Int
    public var intentParameters: [Double]
    public var intentName: String
    public var description: String
    public var qformCode: Int
    public var sformCode: Int
    /// The affine from the quaternion fields (voxel index → world, 4×4 row-major), whatever
    /// `qformCode` is.
    public var qformAffine: [[Double]]
    /// The affine from `srow_x/y/z`, whatever `sformCode` is.
    public var sformAffine: [[Double]]
    /// The affine nibabel's `get_best_affine()` returns: the sform when `sformCode > 0`, else
    /// the qform when `qformCode > 0`, else a scaling by the voxel spacing (x flipped) centred on
    /// the volume, as Analyze does.
    public var affine: [[Double]]
    /// The voxels, scaled, as Float32 with shape `shape` (see the axis order above).
    public var data: Tensor
    /// The voxel bytes as stored (file byte order, Fortran order), unscaled.
    public var rawData: [UInt8]
    /// Whether the file was big-endian.
    public var bigEndian: Bool
}

/// NIfTI datatypes the reader accepts, by code.
private let niftiTypes: [Int: (name: String, size: Int)] = [
    2: ("uint8", 1), 256: ("int8", 1), 4: ("int16", 2), 512: ("uint16", 2), 8: ("int32", 4),
    768: ("uint32", 4), 1024: ("int64", 8), 1280: ("uint64", 8), 16: ("float32", 4), 64: ("float64", 8),
]
private let refusedTypes: [Int: String] = [
    1: "binary", 32: "complex64", 128: "RGB24", 1536: "float128", 1792: "complex128",
    2048: "complex256", 2304: "RGBA32",
]

/// Reads a `.nii` or `.nii.gz` file (gzip is detected from the content, not the name).
public func readNIfTI(atPath path: String) throws -> NIfTIImage {
    var bytes = try readFileBytes(atPath: path)
    if isGzip(bytes) { bytes = try inflate(bytes, format: .gzip, source: path) }
    return try parseNIfTI(bytes, source: path)
}

/// Parses the bytes of a single-file NIfTI-1/2 image (already decompressed); `source` names it in errors.
public func parseNIfTI(_ bytes: [UInt8], source: String) throws -> NIfTIImage {
    func failure(_ message: String) -> DataFormatError { DataFormatError(source: source, message: message) }
    guard bytes.count >= 4 else { throw failure("\(bytes.count) bytes is too short for a NIfTI header (sizeof_hdr)") }
    let r = ByteReader(bytes: bytes, bigEndian: false)
    var version = 0
    var bigEndian = false
    for big in [false, true] {
        let v = ByteReader(bytes: bytes, bigEndian: big).i32(0)
        if v == 348 { version = 1; bigEndian = big; break }
        if v == 540 { version = 2; bigEndian = big; break }
    }
    guard version > 0 else {
        throw failure("sizeof_hdr is \(r.i32(0)) (byte-swapped \(Int32(bitPattern: UInt32(bitPattern: r.i32(0)).byteSwapped))); expected 348 (NIfTI-1) or 540 (NIfTI-2)")
    }
    let headerSize = version == 1 ? 348 : 540
    guard bytes.count >= headerSize else {
        throw failure("file has \(bytes.count) bytes, shorter than the \(headerSize)-byte NIfTI-\(version) header")
    }
    let h = ByteReader(bytes: bytes, bigEndian: bigEndian)

    let magic = version == 1 ? Array(bytes[344..<348]) : Array(bytes[4..<12])
    if version == 1 {
        guard magic == Array("n+1\0".utf8) else {
            if magic == Array("ni1\0".utf8) { throw failure("magic 'ni1': a .hdr/.img pair is not supported; pass a single-file .nii") }
            throw failure("magic is \(magic) instead of 'n+1'")
        }
    } else {
        guard magic == [0x6E, 0x2B, 0x32, 0, 0x0D, 0x0A, 0x1A, 0x0A] else {
            throw failure("magic is \(magic) instead of 'n+2\\0\\r\\n\\x1a\\n' (a .hdr/.img pair is not supported)")
        }
    }

    let datatype: Int, dims: [Int64], pixdim: [Double], voxOffset: Double, slope: Double, inter: Double
    let qformCode: Int, sformCode: Int, quatern: [Double], srow: [[Double]], xyztUnits: Int
    let intentCode: Int, intentP: [Double], descripOffset: Int, intentNameOffset: Int
    if version == 1 {
        datatype = Int(h.i16(70))
        dims = (0..<8).map { Int64(h.i16(40 + 2 * $0)) }
        pixdim = (0..<8).map { Double(h.f32(76 + 4 * $0)) }
        voxOffset = Double(h.f32(108))
        slope = Double(h.f32(112)); inter = Double(h.f32(116))
        xyztUnits = Int(bytes[123])
        qformCode = Int(h.i16(252)); sformCode = Int(h.i16(254))
        quatern = (0..<6).map { Double(h.f32(256 + 4 * $0)) }
        srow = (0..<3).map { row in (0..<4).map { Double(h.f32(280 + 16 * row + 4 * $0)) } }
        intentCode = Int(h.i16(68)); intentP = (0..<3).map { Double(h.f32(56 + 4 * $0)) }
        descripOffset = 148; intentNameOffset = 328
    } else {
        datatype = Int(h.i16(12))
        dims = (0..<8).map { h.i64(16 + 8 * $0) }
        pixdim = (0..<8).map { h.f64(104 + 8 * $0) }
        voxOffset = Double(h.i64(168))
        slope = h.f64(176); inter = h.f64(184)
        xyztUnits = Int(h.i32(500))
        qformCode = Int(h.i32(344)); sformCode = Int(h.i32(348))
        quatern = (0..<6).map { h.f64(352 + 8 * $0) }
        srow = (0..<3).map { row in (0..<4).map { h.f64(400 + 32 * row + 8 * $0) } }
        intentCode = Int(h.i32(504)); intentP = (0..<3).map { h.f64(80 + 8 * $0) }
        descripOffset = 240; intentNameOffset = 508
    }

    guard let type = niftiTypes[datatype] else {
        if let name = refusedTypes[datatype] { throw failure("datatype \(datatype) (\(name)) is not supported") }
        throw failure("unknown datatype code \(datatype)")
    }
    let rank = dims[0]
    guard rank >= 1 && rank <= 7 else { throw failure("dim[0] (rank) is \(rank); expected 1…7") }
    var shape: [Int] = []
    var count = 1
    for axis in 1...Int(rank) {
        let d = dims[axis]
        guard d >= 1 else { throw failure("dim[\(axis)] is \(d); expected ≥ 1") }
        guard d <= Int64(Int.max), case let (product, overflow) = count.multipliedReportingOverflow(by: Int(d)), !overflow else {
            throw failure("dim[1…\(rank)] = \(dims[1...Int(rank)].map { $0 }) overflows the voxel count")
        }
        shape.append(Int(d)); count = product
    }
    guard voxOffset.isFinite, voxOffset >= Double(headerSize), voxOffset < Double(bytes.count) + 1 else {
        throw failure("vox_offset \(voxOffset) is outside the file (\(bytes.count) bytes; header \(headerSize))")
    }
    let offset = Int(voxOffset)
    let (byteCount, overflow) = count.multipliedReportingOverflow(by: type.size)
    guard !overflow, byteCount <= bytes.count - offset else {
        throw failure("dims \(shape) of \(type.name) need \(overflow ? "more than Int.max" : String(byteCount)) bytes at vox_offset \(offset), but the file has \(bytes.count - offset)")
    }

    let applyScaling = slope.isFinite && slope != 0
    let raw = Array(bytes[offset..<(offset + byteCount)])
    let values = decodeFortranToRowMajor(raw, code: datatype, bigEndian: bigEndian, shape: shape,
                                        slope: applyScaling ? slope : 1, inter: applyScaling ? inter : 0)

    let qfac = pixdim[0] < 0 ? -1.0 : 1.0
    let qAffine = quaternAffine(b: quatern[0], c: quatern[1], d: quatern[2],
                                offset: Array(quatern[3...5]), spacing: Array(pixdim[1...3]), qfac: qfac,
                                threshold: 3 * (version == 1 ? Double(Float.ulpOfOne) : Double.ulpOfOne))
    let sAffine = srow + [[0, 0, 0, 1]]
    let best: [[Double]]
    if sformCode > 0 { best = sAffine } else if qformCode > 0 { best = qAffine } else {
        // nibabel's base affine: x flipped, origin at the centre voxel.
        let n = (0..<3).map { $0 < shape.count ? Double(shape[$0]) : 1 }
        let z = (0..<3).map { pixdim[$0 + 1] }
        best = [[-z[0], 0, 0, (n[0] - 1) / 2 * z[0]], [0, z[1], 0, -(n[1] - 1) / 2 * z[1]],
                [0, 0, z[2], -(n[2] - 1) / 2 * z[2]], [0, 0, 0, 1]]
    }
    let storage = TensorStorage(uninitializedCount: count)
    values.withUnsafeBufferPointer { src in
        for i in 0..<count { storage.pointer[i] = src[i] }
    }
    return NIfTIImage(
        version: version, datatypeCode: datatype, shape: shape, pixdim: pixdim, xyztUnits: xyztUnits,
        voxOffset: offset, sclSlope: slope, sclInter: inter, scalingApplied: applyScaling,
        intentCode: intentCode, intentParameters: intentP,
        intentName: cString(bytes[intentNameOffset..<(intentNameOffset + 16)]),
        description: cString(bytes[descripOffset..<(descripOffset + 80)]),
        qformCode: qformCode, sformCode: sformCode, qformAffine: qAffine, sformAffine: sAffine, affine: best,
        data: Tensor(storage: storage, shape: shape), rawData: raw, bigEndian: bigEndian)
}

private func cString(_ slice: ArraySlice<UInt8>) -> String {
    String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
}

/// The quaternion affine of the NIfTI spec: rotation from (b, c, d) with a = √(1 − b² − c² − d²),
/// columns scaled by the spacing, the third by qfac too.
///
/// `a` is taken as 0 when 1 − b² − c² − d² is within `threshold` of 0 (or below it): the fields
/// are stored rounded, so a 180° rotation comes out slightly off. nibabel uses 3 ε of the stored
/// type (float32 for NIfTI-1, float64 for NIfTI-2); so does the reader, to give the same affine.
func quaternAffine(b: Double, c: Double, d: Double, offset: [Double], spacing: [Double], qfac: Double,
                   threshold: Double) -> [[Double]] {
    var (b, c, d) = (b, c, d)
    var a2 = 1 - (b * b + c * c + d * d)
    if a2 < threshold {
        // A 180° rotation stored with rounding: a = 0, and (b, c, d) renormalised when past 1.
        let n = (b * b + c * c + d * d).squareRoot()
        if n > 1 { b /= n; c /= n; d /= n }
        a2 = 0
    }
    let a = a2.squareRoot()
    let rot = [
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ]
    let scale = [spacing[0], spacing[1], spacing[2] * qfac]
    return (0..<3).map { i in (0..<3).map { j in rot[i][j] * scale[j] } + [offset[i]] } + [[0, 0, 0, 1]]
}

/// Decodes stored voxels (x fastest) into row-major Float32 with the same indexing.
private func decodeFortranToRowMajor(_ raw: [UInt8], code: Int, bigEndian: Bool, shape: [Int],
                                     slope: Double, inter: Double) -> [Float] {
    let count = shape.reduce(1, *)
    let r = ByteReader(bytes: raw, bigEndian: bigEndian)
    func value(_ i: Int) -> Double {
        switch code {
        case 2: return Double(raw[i])
        case 256: return Double(Int8(bitPattern: raw[i]))
        case 4: return Double(r.i16(2 * i))
        case 512: return Double(UInt16(bitPattern: r.i16(2 * i)))
        case 8: return Double(r.i32(4 * i))
        case 768: return Double(UInt32(bitPattern: r.i32(4 * i)))
        case 1024: return Double(r.i64(8 * i))
        case 1280: return Double(UInt64(bitPattern: r.i64(8 * i)))
        case 16: return Double(r.f32(4 * i))
        default: return r.f64(8 * i)
        }
    }
    var out = [Float](repeating: 0, count: count)
    // Walk the row-major output in order, keeping the Fortran index of the same voxel.
    let rank = shape.count
    var fortranStride = [Int](repeating: 1, count: rank)
    for axis in 1..<max(rank, 1) where rank > 1 { fortranStride[axis] = fortranStride[axis - 1] * shape[axis - 1] }
    var index = [Int](repeating: 0, count: rank)
    var source = 0
    let identity = slope == 1 && inter == 0
    for o in 0..<count {
        let v = value(source)
        out[o] = Float(identity ? v : v * slope + inter)
        var axis = rank - 1
        while axis >= 0 {
            index[axis] += 1
            source += fortranStride[axis]
            if index[axis] < shape[axis] { break }
            source -= fortranStride[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
    return out
}

/// Little- or big-endian loads at byte offsets (callers have checked the bounds).
private struct ByteReader {
    let bytes: [UInt8]
    let bigEndian: Bool
    func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
        let v = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        return bigEndian ? T(bigEndian: v) : T(littleEndian: v)
    }
    func i16(_ o: Int) -> Int16 { load(o, Int16.self) }
    func i32(_ o: Int) -> Int32 { load(o, Int32.self) }
    func i64(_ o: Int) -> Int64 { load(o, Int64.self) }
    func f32(_ o: Int) -> Float { Float(bitPattern: load(o, UInt32.self)) }
    func f64(_ o: Int) -> Double { Double(bitPattern: load(o, UInt64.self)) }
}
