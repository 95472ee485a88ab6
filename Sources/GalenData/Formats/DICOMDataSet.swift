import Foundation
import Galen

// The parsed form of a DICOM data set: elements by tag, with typed accessors for their values.
// Values are not copied out of the file: every element keeps the byte range of its value in the
// file's bytes, which all data sets of one file share (copy-on-write arrays, so no copy is made).

/// A DICOM attribute tag, `(group,element)`.
public struct DICOMTag: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let group: UInt16
    public let element: UInt16

    public init(_ group: UInt16, _ element: UInt16) {
        self.group = group
        self.element = element
    }

    /// `group << 16 | element`, the order elements take in a data set.
    public var rawValue: UInt32 { UInt32(group) << 16 | UInt32(element) }
    public static func < (a: DICOMTag, b: DICOMTag) -> Bool { a.rawValue < b.rawValue }
    /// `(0028,0010)`.
    public var description: String {
        func hex(_ v: UInt16) -> String {
            let digits = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: 4 - digits.count) + digits
        }
        return "(\(hex(group)),\(hex(element)))"
    }
    /// The attribute's name from Galen's small built-in dictionary, if it is there.
    public var name: String? { dicomDictionary[rawValue]?.name }
    /// `(0028,0010) Rows`, or just the tag when the dictionary does not know it.
    public var label: String { name.map { "\(description) \($0)" } ?? description }
}

/// One data element: its tag, value representation and where its value lies.
public struct DICOMElement: Sendable {
    public let tag: DICOMTag
    /// The two-letter value representation: as written for explicit VR, from the dictionary for
    /// implicit VR (`UN` for tags the dictionary does not know).
    public let vr: String
    /// The value's bytes within the file's bytes (empty for sequences and encapsulated data).
    public let valueRange: Range<Int>
    /// Whether the length was the undefined length `FFFFFFFF` in the file.
    public let undefinedLength: Bool
    /// The items of a sequence (SQ, or an undefined-length element in implicit VR).
    public let items: [DICOMDataSet]
    /// For encapsulated Pixel Data: the byte ranges of its items, the Basic Offset Table first.
    public let fragments: [Range<Int>]?
}

/// A DICOM data set (the file's main data set, its file meta group, or a sequence item).
public struct DICOMDataSet: Sendable {
    /// The file (or label) the data set came from, for error messages.
    public let source: String
    /// The whole file's bytes; elements index into them.
    public let bytes: [UInt8]
    /// Whether binary values (US, UL, FL, …) are big-endian.
    public let bigEndian: Bool
    /// The elements in file order.
    public let elements: [DICOMElement]
    private let indexByTag: [DICOMTag: Int]

    init(source: String, bytes: [UInt8], bigEndian: Bool, elements: [DICOMElement]) {
        self.source = source
        self.bytes = bytes
        self.bigEndian = bigEndian
        self.elements = elements
        var index: [DICOMTag: Int] = [:]
        for (i, element) in elements.enumerated() { index[element.tag] = i }
        indexByTag = index
    }

    public subscript(tag: DICOMTag) -> DICOMElement? { indexByTag[tag].map { elements[$0] } }
    public func contains(_ tag: DICOMTag) -> Bool { indexByTag[tag] != nil }

    /// The raw bytes of the element's value, as stored.
    public func valueBytes(_ tag: DICOMTag) -> ArraySlice<UInt8>? {
        self[tag].map { bytes[$0.valueRange] }
    }

    /// The items of a sequence element (empty when absent or not a sequence).
    public func items(_ tag: DICOMTag) -> [DICOMDataSet] { self[tag]?.items ?? [] }

    /// The whole text value with trailing spaces and NULs removed (backslashes between values
    /// kept); nil when absent. Text is decoded as UTF-8 when valid, else as Latin-1.
    public func string(_ tag: DICOMTag) -> String? {
        guard let element = self[tag], element.items.isEmpty, element.fragments == nil else { return nil }
        return decodeText(bytes[element.valueRange])
    }

    /// The values of a multi-valued text element, split at backslashes and trimmed.
    public func strings(_ tag: DICOMTag) -> [String] {
        guard let text = string(tag), !text.isEmpty else { return [] }
        return text.split(separator: "\\", omittingEmptySubsequences: false).map { trimmed(String($0)) }
    }

    /// The numeric values of the element: binary (US, SS, UL, SL, FL, FD, SV, UV) or text (IS,
    /// DS). Nil when the element is absent or a value is not a number.
    public func numbers(_ tag: DICOMTag) -> [Double]? {
        guard let element = self[tag] else { return nil }
        let vr = element.vr == "UN" ? (dicomDictionary[tag.rawValue]?.vr ?? "UN") : element.vr
        if let size = binaryNumberSizes[vr] {
            let range = element.valueRange
            let count = range.count / size
            var values: [Double] = []
            values.reserveCapacity(count)
            bytes.withUnsafeBytes { raw in
                for i in 0..<count {
                    let offset = range.lowerBound + i * size
                    values.append(binaryNumber(raw, at: offset, vr: vr))
                }
            }
            return values
        }
        var values: [Double] = []
        for text in strings(tag) {
            guard let value = Double(text), value.isFinite else { return nil }
            values.append(value)
        }
        return values
    }

    /// The first numeric value, or nil when absent, empty or not a number.
    public func double(_ tag: DICOMTag) -> Double? { numbers(tag)?.first }

    /// The first numeric value as an integer, or nil when absent, empty, not a number or not whole.
    public func int(_ tag: DICOMTag) -> Int? {
        guard let value = double(tag), value == value.rounded(), abs(value) < 9e15 else { return nil }
        return Int(value)
    }

    private func binaryNumber(_ raw: UnsafeRawBufferPointer, at offset: Int, vr: String) -> Double {
        func load<T: FixedWidthInteger>(_: T.Type) -> T {
            let v = raw.loadUnaligned(fromByteOffset: offset, as: T.self)
            return bigEndian ? T(bigEndian: v) : T(littleEndian: v)
        }
        switch vr {
        case "US": return Double(load(UInt16.self))
        case "SS": return Double(load(Int16.self))
        case "UL": return Double(load(UInt32.self))
        case "SL": return Double(load(Int32.self))
        case "UV": return Double(load(UInt64.self))
        case "SV": return Double(load(Int64.self))
        case "FL": return Double(Float(bitPattern: load(UInt32.self)))
        default: return Double(bitPattern: load(UInt64.self))  // FD
        }
    }
}

private let binaryNumberSizes: [String: Int] = ["US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "SV": 8, "UV": 8]

/// Text with surrounding spaces and NULs removed.
func trimmed(_ text: String) -> String {
    text.trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
}

/// Decodes a text value: UTF-8 when it is valid UTF-8, else Latin-1 (which every byte string is),
/// without trailing spaces and NULs.
func decodeText(_ bytes: ArraySlice<UInt8>) -> String {
    var end = bytes.endIndex
    while end > bytes.startIndex && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0) { end -= 1 }
    let slice = bytes[bytes.startIndex..<end]
    if let text = String(validating: slice, as: UTF8.self) { return text }
    return String(String.UnicodeScalarView(slice.map { Unicode.Scalar($0) }))
}

/// A transfer syntax: how the data set after the file meta group is encoded.
public struct DICOMTransferSyntax: Sendable, Equatable, CustomStringConvertible {
    public let uid: String
    /// The standard's name, e.g. `Explicit VR Little Endian`; `unknown` for UIDs not in the table.
    public let name: String
    public let explicitVR: Bool
    public let bigEndian: Bool
    /// Pixel Data is a sequence of compressed fragments.
    public let encapsulated: Bool
    /// The data set is deflate-compressed after the file meta group.
    public let deflated: Bool

    /// Whether Galen decodes Pixel Data in this syntax (native, deflated, RLE, JPEG baseline,
    /// JPEG-LS, JPEG 2000); the others are refused with an error naming the syntax.
    public var pixelDataDecodable: Bool { !encapsulated || codecFor(self) != nil }
    public var description: String { "\(uid) (\(name))" }

    public static let implicitVRLittleEndian = DICOMTransferSyntax(uid: "1.2.840.10008.1.2")
    public static let explicitVRLittleEndian = DICOMTransferSyntax(uid: "1.2.840.10008.1.2.1")
    public static let explicitVRBigEndian = DICOMTransferSyntax(uid: "1.2.840.10008.1.2.2")
    public static let rleLossless = DICOMTransferSyntax(uid: "1.2.840.10008.1.2.5")
    public static let jpegBaseline = DICOMTransferSyntax(uid: "1.2.840.10008.1.2.4.50")
    public static let jpegLSLossless = DICOMTransferSyntax(uid: "1.2.840.10008.1.2.4.80")
    public static let jpegLSNearLossless = DICOMTransferSyntax(uid: "1.2.840.10008.1.2.4.81")
    public static let jpeg2000Lossless = DICOMTransferSyntax(uid: "1.2.840.10008.1.2.4.90")
    public static let jpeg2000 = DICOMTransferSyntax(uid: "1.2.840.10008.1.2.4.91")

    /// The syntax with this UID. Unknown UIDs are taken as explicit VR little endian with
    /// encapsulated pixel data, which is what every transfer syntax the standard has added since
    /// the first three uses.
    public init(uid: String) {
        self.uid = uid
        let known = transferSyntaxNames[uid]
        name = known ?? "unknown"
        explicitVR = uid != "1.2.840.10008.1.2"
        bigEndian = uid == "1.2.840.10008.1.2.2"
        deflated = uid == "1.2.840.10008.1.2.1.99"
        encapsulated = !["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
                         "1.2.840.10008.1.2.1.99"].contains(uid)
    }
}

private let transferSyntaxNames: [String: String] = [
    "1.2.840.10008.1.2": "Implicit VR Little Endian",
    "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
    "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
    "1.2.840.10008.1.2.4.50": "JPEG Baseline (Process 1)",
    "1.2.840.10008.1.2.4.51": "JPEG Extended (Process 2 & 4)",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless, Non-Hierarchical (Process 14)",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless Image Compression",
    "1.2.840.10008.1.2.4.81": "JPEG-LS Lossy (Near-Lossless) Image Compression",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Image Compression (Lossless Only)",
    "1.2.840.10008.1.2.4.91": "JPEG 2000 Image Compression",
    "1.2.840.10008.1.2.4.92": "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)",
    "1.2.840.10008.1.2.4.93": "JPEG 2000 Part 2 Multi-component Image Compression",
    "1.2.840.10008.1.2.4.100": "MPEG2 Main Profile / Main Level",
    "1.2.840.10008.1.2.4.101": "MPEG2 Main Profile / High Level",
    "1.2.840.10008.1.2.4.102": "MPEG-4 AVC/H.264 High Profile / Level 4.1",
    "1.2.840.10008.1.2.4.103": "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1",
    "1.2.840.10008.1.2.4.104": "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video",
    "1.2.840.10008.1.2.4.105": "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video",
    "1.2.840.10008.1.2.4.106": "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2",
    "1.2.840.10008.1.2.4.107": "HEVC/H.265 Main Profile / Level 5.1",
    "1.2.840.10008.1.2.4.108": "HEVC/H.265 Main 10 Profile / Level 5.1",
    "1.2.840.10008.1.2.4.201": "High-Throughput JPEG 2000 Image Compression (Lossless Only)",
    "1.2.840.10008.1.2.4.202": "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
    "1.2.840.10008.1.2.4.203": "High-Throughput JPEG 2000 Image Compression",
    "1.2.840.10008.1.2.5": "RLE Lossless",
    "1.2.840.10008.1.2.8.1": "Deflated Image Frame Compression",
]
