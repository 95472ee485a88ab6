import GalenData

// NIfTI-1 and NIfTI-2 single-file images in either byte order: header fields, dims, datatype,
// vox_offset, scaling, qform/sform affines, then the voxel data. Gzip input is inflated first,
// as readNIfTI(atPath:) does, with an output cap so that a bomb cannot exhaust the fuzzer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if isGzip(bytes) {
        guard let inflated = try? inflate(bytes, format: .gzip, maximumSize: 64 << 20, source: "fuzz") else { return 0 }
        bytes = inflated
    }
    _ = try? parseNIfTI(bytes, source: "fuzz")
    return 0
}
