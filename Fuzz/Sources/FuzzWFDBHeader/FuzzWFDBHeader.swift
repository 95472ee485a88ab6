import GalenData

// WFDB header text (.hea): record line, signal lines with their format, gain, baseline, ADC and
// description fields, comments and line endings. Bytes that are not UTF-8 are read as Latin-1,
// as WFDBRecord(header:) does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(validating: bytes, as: UTF8.self)
        ?? String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    _ = try? WFDBHeader(text: text, source: "fuzz")
    return 0
}
