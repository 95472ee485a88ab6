import GalenData

// WFDB MIT-format annotation files (.atr): 16-bit words, SKIP/NUM/SUB/CHN/AUX pseudo-annotations.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? WFDBAnnotations(bytes: bytes, source: "fuzz")
    return 0
}
