import GalenData

// DICOM Part 10: preamble and file meta group, data elements in every transfer syntax (implicit
// and explicit VR, either byte order, deflated), nested sequences and items, the image metadata
// and pixel decoding (native, RLE, and encapsulated JPEG / JPEG-LS / JPEG 2000 frames handed to
// the system codecs). A file that does not decode is parsed again header-only.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if (try? DICOMImage.parse(bytes, source: "fuzz")) == nil {
        _ = try? DICOMFile.parse(bytes, source: "fuzz", headerOnly: true)
    }
    return 0
}
