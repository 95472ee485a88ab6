import Foundation
import Galen

// DICOM Part 10 files (PS3.10 §7) and the data element encoding of PS3.5 §7: the 128-byte
// preamble and "DICM", the file meta group (always explicit VR little endian), then the data set
// in the file's transfer syntax. Sequences and items of defined and undefined length nest; the
// input is untrusted, so every length is checked against the bytes that remain and nesting depth
// is bounded.

/// A parsed DICOM file: its file meta group and its data set.
public struct DICOMFile: Sendable {
    /// The file meta group (group 0002); empty for a bare data set without one.
    public let fileMeta: DICOMDataSet
    /// The main data set.
    public let dataSet: DICOMDataSet
    public let transferSyntax: DICOMTransferSyntax
    /// Whether the file had the 128-byte preamble and "DICM".
    public let hasPreamble: Bool
    /// Whether parsing stopped before Pixel Data (header-only parse).
    public let headerOnly: Bool

    /// Parses a whole file's bytes; `source` names it in errors. With `headerOnly`, parsing stops
    /// at Pixel Data (7FE0,0010), so a file with damaged pixel data still shows its header.
    public static func parse(_ bytes: [UInt8], source: String, headerOnly: Bool = false) throws -> DICOMFile {
        func failure(_ message: String) -> DataFormatError { DataFormatError(source: source, message: message) }
        let dicm: [UInt8] = Array("DICM".utf8)
        var start = 0
        let hasPreamble = bytes.count >= 132 && Array(bytes[128..<132]) == dicm
        if hasPreamble {
            start = 132
        } else if bytes.count >= 4 && Array(bytes[0..<4]) == dicm {
            start = 4  // "DICM" without the preamble, as some writers emit
        }

        var meta = DICOMDataSet(source: source, bytes: bytes, bigEndian: false, elements: [])
        var metaEnd = start
        if bytes.count >= start + 2 && UInt16(bytes[start]) | UInt16(bytes[start + 1]) << 8 == 0x0002 {
            let parser = ElementParser(bytes: bytes, source: source, explicitVR: true, bigEndian: false)
            (meta, metaEnd) = try parser.dataSet(from: start, to: bytes.count, depth: 0, stopAtGroupAfter: 0x0002)
        } else if start > 0 || !looksLikeDataSet(bytes) {
            throw failure(start > 0
                ? "no file meta group (0002,xxxx) after 'DICM' at byte \(start)"
                : "not a DICOM file: no 'DICM' at byte 128 and no data element at byte 0")
        }

        var syntax: DICOMTransferSyntax
        if meta.elements.isEmpty {
            syntax = guessSyntax(bytes, at: metaEnd)
        } else {
            guard let uid = meta.string(DICOMTags.transferSyntaxUID), !uid.isEmpty else {
                throw failure("file meta group has no \(DICOMTags.transferSyntaxUID.label)")
            }
            syntax = DICOMTransferSyntax(uid: trimmed(uid))
        }

        var body = bytes
        if syntax.deflated {
            // The data set after the meta group is raw deflate; parse the inflated bytes in place of it.
            let inflated = try inflate(Array(bytes[metaEnd...]), format: .raw, source: source)
            body = Array(bytes[..<metaEnd]) + inflated
            meta = DICOMDataSet(source: source, bytes: body, bigEndian: false, elements: meta.elements)
        }
        let parser = ElementParser(bytes: body, source: source, explicitVR: syntax.explicitVR,
                                   bigEndian: syntax.bigEndian, encapsulated: syntax.encapsulated,
                                   stopAtPixelData: headerOnly)
        let (dataSet, _) = try parser.dataSet(from: metaEnd, to: body.count, depth: 0)
        return DICOMFile(fileMeta: meta, dataSet: dataSet, transferSyntax: syntax, hasPreamble: hasPreamble,
                         headerOnly: headerOnly)
    }
}

/// Reads and parses a DICOM file without decoding its pixels (parsing stops at Pixel Data).
public func readDICOMHeader(atPath path: String) throws -> DICOMFile {
    try DICOMFile.parse(readFileBytes(atPath: path), source: path, headerOnly: true)
}

/// Whether a file without "DICM" starts with a plausible data element (group 0008 in either byte
/// order), as files written without the Part 10 header do.
private func looksLikeDataSet(_ bytes: [UInt8]) -> Bool {
    guard bytes.count >= 8 else { return false }
    return (bytes[0] == 0x08 && bytes[1] == 0x00) || (bytes[0] == 0x00 && bytes[1] == 0x08)
}

/// The transfer syntax of a data set without a file meta group: big-endian when the group reads
/// 0x0800 little-endian, explicit when two VR letters follow the tag.
private func guessSyntax(_ bytes: [UInt8], at start: Int) -> DICOMTransferSyntax {
    guard bytes.count >= start + 6 else { return .implicitVRLittleEndian }
    if bytes[start] == 0x00 && bytes[start + 1] == 0x08 { return .explicitVRBigEndian }
    let letters = (bytes[start + 4], bytes[start + 5])
    let isUpper: (UInt8) -> Bool = { $0 >= 0x41 && $0 <= 0x5A }
    return isUpper(letters.0) && isUpper(letters.1) ? .explicitVRLittleEndian : .implicitVRLittleEndian
}

/// VRs whose explicit encoding has two reserved bytes and a 32-bit length.
private let longLengthVRs: Set<String> = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]
private let maximumDepth = 64
private let undefinedLength: UInt32 = 0xFFFF_FFFF

/// Reads data elements of one encoding from a byte array.
private struct ElementParser {
    let bytes: [UInt8]
    let source: String
    let explicitVR: Bool
    let bigEndian: Bool
    var encapsulated = false
    var stopAtPixelData = false

    func failure(_ message: String, at offset: Int) -> DataFormatError {
        DataFormatError(source: source, message: "\(message) (at byte \(offset))")
    }

    func u16(_ offset: Int) -> UInt16 {
        let v = UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
        return bigEndian ? v.byteSwapped : v
    }

    func u32(_ offset: Int) -> UInt32 {
        let v = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
        return bigEndian ? v.byteSwapped : v
    }

    func tag(at offset: Int) -> DICOMTag { DICOMTag(u16(offset), u16(offset + 2)) }

    /// Parses elements from `start` until `end`, or, with `untilDelimiter`, until an Item
    /// Delimitation Item (consumed). With `stopAtGroupAfter`, stops before the first element of a
    /// later group (for the file meta group). Returns the data set and the offset after it.
    func dataSet(from start: Int, to end: Int, depth: Int, untilDelimiter: Bool = false,
                 stopAtGroupAfter group: UInt16? = nil) throws -> (DICOMDataSet, Int) {
        guard depth <= maximumDepth else {
            throw failure("sequences nested deeper than \(maximumDepth) levels", at: start)
        }
        var elements: [DICOMElement] = []
        var offset = start
        while true {
            if offset >= end {
                if untilDelimiter { throw failure("item of undefined length has no Item Delimitation Item before the end of its sequence or file", at: offset) }
                break
            }
            guard end - offset >= 8 else {
                throw failure("file ends inside a data element header (\(end - offset) bytes left)", at: offset)
            }
            let tag = tag(at: offset)
            if let group, tag.group != group { break }
            if tag == DICOMTags.itemDelimitation {
                guard untilDelimiter else { throw failure("unexpected Item Delimitation Item \(tag)", at: offset) }
                offset += 8
                return (DICOMDataSet(source: source, bytes: bytes, bigEndian: bigEndian, elements: elements), offset)
            }
            if tag.group == 0xFFFE {
                throw failure("unexpected item tag \(tag) in a data set", at: offset)
            }
            if stopAtPixelData && depth == 0 && tag == DICOMTags.pixelData { break }
            let (element, next) = try self.element(at: offset, end: end, depth: depth)
            elements.append(element)
            offset = next
        }
        return (DICOMDataSet(source: source, bytes: bytes, bigEndian: bigEndian, elements: elements), offset)
    }

    /// Parses one element whose tag starts at `offset`; returns it and the offset after it.
    func element(at offset: Int, end: Int, depth: Int) throws -> (DICOMElement, Int) {
        let tag = tag(at: offset)
        var vr: String
        var length: UInt32
        var valueStart: Int
        if explicitVR {
            let a = bytes[offset + 4], b = bytes[offset + 5]
            guard (0x41...0x5A).contains(a) && (0x41...0x5A).contains(b) else {
                throw failure("element \(tag.label) has an invalid VR (bytes \(a), \(b)); the transfer syntax says explicit VR", at: offset)
            }
            vr = String(decoding: [a, b], as: UTF8.self)
            if longLengthVRs.contains(vr) {
                guard end - offset >= 12 else { throw failure("file ends inside the header of \(tag.label)", at: offset) }
                length = u32(offset + 8)
                valueStart = offset + 12
            } else {
                length = UInt32(u16(offset + 6))
                valueStart = offset + 8
            }
        } else {
            vr = implicitVR(of: tag)
            length = u32(offset + 4)
            valueStart = offset + 8
        }

        if length == undefinedLength {
            if tag == DICOMTags.pixelData && encapsulated {  // also an icon image's, inside a sequence
                let (fragments, next) = try self.fragments(from: valueStart, end: end)
                return (DICOMElement(tag: tag, vr: vr, valueRange: valueStart..<valueStart, undefinedLength: true,
                                     items: [], fragments: fragments), next)
            }
            guard vr == "SQ" || vr == "UN" || !explicitVR else {
                throw failure("element \(tag.label) with VR \(vr) has undefined length", at: offset)
            }
            // An undefined-length UN holds implicit VR little endian (PS3.5 §6.2.2).
            let inner = vr == "UN" && explicitVR
                ? ElementParser(bytes: bytes, source: source, explicitVR: false, bigEndian: false) : self
            let (items, next) = try inner.items(from: valueStart, end: end, definedEnd: nil, depth: depth + 1, of: tag)
            return (DICOMElement(tag: tag, vr: vr == "UN" ? "SQ" : vr, valueRange: valueStart..<valueStart,
                                 undefinedLength: true, items: items, fragments: nil), next)
        }
        guard Int(length) <= end - valueStart else {
            throw failure("value of \(tag.label) is \(length) bytes but only \(max(0, end - valueStart)) remain", at: offset)
        }
        let valueEnd = valueStart + Int(length)
        if vr == "SQ" {
            let (items, _) = try items(from: valueStart, end: valueEnd, definedEnd: valueEnd, depth: depth + 1, of: tag)
            return (DICOMElement(tag: tag, vr: vr, valueRange: valueStart..<valueStart, undefinedLength: false,
                                 items: items, fragments: nil), valueEnd)
        }
        return (DICOMElement(tag: tag, vr: vr, valueRange: valueStart..<valueEnd, undefinedLength: false,
                             items: [], fragments: nil), valueEnd)
    }

    /// The items of a sequence: up to `definedEnd`, or up to a Sequence Delimitation Item.
    func items(from start: Int, end: Int, definedEnd: Int?, depth: Int, of sequence: DICOMTag) throws -> ([DICOMDataSet], Int) {
        guard depth <= maximumDepth else {
            throw failure("sequences nested deeper than \(maximumDepth) levels", at: start)
        }
        var items: [DICOMDataSet] = []
        var offset = start
        while true {
            if let definedEnd, offset >= definedEnd { return (items, offset) }
            guard end - offset >= 8 else {
                throw failure("file ends inside sequence \(sequence.label) (no Sequence Delimitation Item)", at: offset)
            }
            let tag = tag(at: offset)
            let length = u32(offset + 4)
            if tag == DICOMTags.sequenceDelimitation {
                guard definedEnd == nil else { throw failure("Sequence Delimitation Item in defined-length sequence \(sequence.label)", at: offset) }
                return (items, offset + 8)
            }
            guard tag == DICOMTags.item else {
                throw failure("expected an Item (FFFE,E000) in sequence \(sequence.label), found \(tag)", at: offset)
            }
            if length == undefinedLength {
                let (item, next) = try dataSet(from: offset + 8, to: end, depth: depth, untilDelimiter: true)
                items.append(item)
                offset = next
            } else {
                guard Int(length) <= end - offset - 8 else {
                    throw failure("item of \(length) bytes in sequence \(sequence.label) runs past its end (\(end - offset - 8) bytes left)", at: offset)
                }
                let (item, _) = try dataSet(from: offset + 8, to: offset + 8 + Int(length), depth: depth)
                items.append(item)
                offset += 8 + Int(length)
            }
        }
    }

    /// The items of encapsulated Pixel Data (PS3.5 §A.4): Basic Offset Table first, then fragments.
    func fragments(from start: Int, end: Int) throws -> ([Range<Int>], Int) {
        var fragments: [Range<Int>] = []
        var offset = start
        while true {
            guard end - offset >= 8 else {
                throw failure("file ends inside encapsulated Pixel Data (no Sequence Delimitation Item)", at: offset)
            }
            let tag = tag(at: offset)
            let length = u32(offset + 4)
            if tag == DICOMTags.sequenceDelimitation { return (fragments, offset + 8) }
            guard tag == DICOMTags.item else {
                throw failure("expected an Item (FFFE,E000) in encapsulated Pixel Data, found \(tag)", at: offset)
            }
            guard length != undefinedLength, Int(length) <= end - offset - 8 else {
                throw failure("Pixel Data fragment of \(length == undefinedLength ? "undefined" : String(length)) bytes does not fit the \(end - offset - 8) bytes left", at: offset)
            }
            fragments.append((offset + 8)..<(offset + 8 + Int(length)))
            offset += 8 + Int(length)
        }
    }
}
