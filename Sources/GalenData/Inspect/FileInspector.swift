#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Galen

/// The file formats `inspectFile(atPath:)` recognizes.
public enum InspectedFormat: String, Sendable, CaseIterable {
    case npy = "NPY"
    case npz = "NPZ"
    case png = "PNG"
    case tiff = "TIFF"
    case nifti = "NIfTI"
    case dicom = "DICOM"
    case wfdbHeader = "WFDB header"
    case wfdbAnnotations = "WFDB annotations"
    case csv = "CSV"

    /// The format of the file at `path`, from its first bytes (`prefix`, at least 348 when the file
    /// is that long) and failing that its extension; nil when neither says.
    public static func detect(path: String, prefix: [UInt8]) -> InspectedFormat? {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            prefix.count >= offset + magic.count && Array(prefix[offset..<offset + magic.count]) == magic
        }
        let name = (path as NSString).lastPathComponent.lowercased()
        if starts([0x93] + Array("NUMPY".utf8)) { return .npy }
        if starts([0x89] + Array("PNG\r\n".utf8) + [0x1a, 0x0a]) { return .png }
        // Before TIFF: a DICOM preamble may itself be a TIFF header (dual-personality files, such
        // as pydicom's CT_small.dcm), and "DICM" at 128 is what makes it DICOM.
        if starts(Array("DICM".utf8), at: 128) { return .dicom }
        if starts(Array("II".utf8) + [42, 0]) || starts(Array("MM".utf8) + [0, 42])
            || starts(Array("II".utf8) + [43, 0]) || starts(Array("MM".utf8) + [0, 43]) {
            return .tiff
        }
        if starts(Array("PK".utf8) + [3, 4]) || starts(Array("PK".utf8) + [5, 6]) { return name.hasSuffix(".npz") ? .npz : nil }
        if isNIfTIHeader(prefix) { return .nifti }
        if starts([0x1f, 0x8b]) {
            if name.hasSuffix(".nii.gz") { return .nifti }
            if name.hasSuffix(".csv.gz") || name.hasSuffix(".tsv.gz") { return .csv }
            return nil
        }
        switch (name as NSString).pathExtension {
        case "npy": return .npy
        case "npz": return .npz
        case "png": return .png
        case "tif", "tiff": return .tiff
        case "nii": return .nifti
        case "dcm", "dicom": return .dicom
        case "hea": return .wfdbHeader
        case "atr", "qrs", "ann": return .wfdbAnnotations
        case "csv", "tsv", "tab": return .csv
        default: return nil
        }
    }

    /// A NIfTI-1 header (sizeof_hdr 348, magic `n+1`/`ni1` at 344) or NIfTI-2 header (540, `n+2`).
    private static func isNIfTIHeader(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 4 else { return false }
        let little = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
        let big = Int(bytes[3]) | Int(bytes[2]) << 8 | Int(bytes[1]) << 16 | Int(bytes[0]) << 24
        if (little == 348 || big == 348) && bytes.count >= 348 {
            return [Array("n+1\0".utf8), Array("ni1\0".utf8)].contains(Array(bytes[344..<348]))
        }
        if little == 540 || big == 540 { return bytes.count >= 8 && Array(bytes[4..<8]) == Array("n+2\0".utf8) }
        return false
    }
}

/// A summary of the file at `path`: its format (found from its content, else its extension) and
/// the header fields that matter for that format, plus its size and MD5.
///
/// ```swift
/// let summary = try inspectFile(atPath: "Data/nifti/anatomical.nii")
/// summary.format           // "NIfTI-1"
/// summary["dims"]          // .list([33, 41, 25])
/// print(summary.jsonText())
/// ```
///
/// The file is read in full with the format's reader, so a damaged file throws the reader's
/// `DataFormatError` (naming the file and the problem); an unknown format throws one too.
public func inspectFile(atPath path: String) throws -> FileSummary {
    let prefix = try readPrefix(ofFileAtPath: path, count: 1024)
    guard let format = InspectedFormat.detect(path: path, prefix: prefix) else {
        let known = InspectedFormat.allCases.map(\.rawValue).joined(separator: ", ")
        throw DataFormatError(source: path, message: "unknown file format: neither its first bytes nor its extension match \(known)")
    }
    let md5 = try MD5.hash(fileAtPath: path).hexDigest
    let summary: FileSummary
    switch format {
    case .npy: summary = try summarizeNPY(path)
    case .npz: summary = try summarizeNPZ(path, md5: md5)
    case .png: summary = try summarizePNG(path, prefix: prefix)
    case .tiff: summary = try summarizeTIFF(path)
    case .nifti: summary = try summarizeNIfTI(path, compressed: prefix.starts(with: [0x1f, 0x8b]))
    case .wfdbHeader: summary = try summarizeWFDBHeader(path)
    case .wfdbAnnotations: summary = try summarizeWFDBAnnotations(path)
    case .csv: summary = try summarizeCSV(path)
    case .dicom: summary = try summarizeDICOM(path)
    }
    let size = fileSize(atPath: path) ?? 0
    return FileSummary(
        path: path, format: summary.format,
        fields: [SummaryField("bytes", .integer(Int(size))), SummaryField("md5", .text(md5))] + summary.fields)
}

/// The first `count` bytes of the regular file at `path` (fewer if it is shorter).
func readPrefix(ofFileAtPath path: String, count: Int) throws -> [UInt8] {
    func failure(_ message: String) -> DataFormatError { DataFormatError(source: path, message: message) }
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw failure("cannot open: \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw failure("cannot read its size: \(String(cString: strerror(errno)))") }
    if (info.st_mode & S_IFMT) == S_IFDIR { throw failure("is a folder, not a file") }
    guard (info.st_mode & S_IFMT) == S_IFREG else { throw failure("not a regular file") }
    var bytes = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
        let got = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + filled, count - filled) }
        if got < 0 && errno == EINTR { continue }
        guard got >= 0 else { throw failure("cannot read: \(String(cString: strerror(errno)))") }
        if got == 0 { break }
        filled += got
    }
    return Array(bytes[..<filled])
}
