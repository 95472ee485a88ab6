import GalenData

// NPZ: the zip central directory (zip64 included), local headers, stored and deflated members
// with their CRC-32 and sizes, then each member as an .npy file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let npz = try? NPZ(bytes: bytes, source: "fuzz") else { return 0 }
    for name in npz.names { _ = try? npz.array(named: name) }
    return 0
}
