import Foundation
import Galen

// WFDB records (PhysioNet): a text header (.hea) naming one or more binary signal files.
// Written from the WFDB header(5) and signal(5) manual pages. The header is untrusted text: every
// problem is a thrown `DataFormatError` naming the file, the line and the field.

/// One signal (lead) of a WFDB record, as described by its header line.
public struct WFDBSignalInfo: Sendable, Equatable {
    /// The signal file, relative to the header's folder, e.g. `100.dat`.
    public var fileName: String
    /// The storage format code: 212, 16 or 80 are decoded.
    public var format: Int
    /// Samples per frame (1 for ordinary records).
    public var samplesPerFrame: Int
    /// Skew in frames (only 0 is supported when decoding).
    public var skew: Int
    /// Bytes to skip at the start of the signal file.
    public var byteOffset: Int
    /// ADC units per physical unit; a header gain of 0 means WFDB's default of 200.
    public var gain: Double
    /// The digital value that corresponds to 0 physical units (defaults to the ADC zero).
    public var baseline: Int
    /// Physical units, `mV` when the header gives none.
    public var units: String
    /// ADC resolution in bits (0 when not given).
    public var adcResolution: Int
    /// ADC zero.
    public var adcZero: Int
    /// Value of the first sample, as written in the header.
    public var initialValue: Int
    /// 16-bit checksum of all samples, as written in the header.
    public var checksum: Int
    /// Block size (0 for ordinary files).
    public var blockSize: Int
    /// The signal's description, usually the lead name (e.g. `MLII`).
    public var description: String
}

/// The parsed contents of a WFDB header file (single-segment records).
public struct WFDBHeader: Sendable, Equatable {
    /// The record name from the record line.
    public var recordName: String
    /// Sampling frequency per signal, in Hz (250 when the header gives none).
    public var frequency: Double
    /// Counter frequency (equal to `frequency` when not given).
    public var counterFrequency: Double
    /// Base counter value.
    public var baseCounter: Double
    /// Samples per signal (0 when not given: taken from the signal file size).
    public var sampleCount: Int
    /// Base time and date, as written (empty when absent).
    public var baseTime: String
    /// Base date, as written (empty when absent).
    public var baseDate: String
    /// One entry per signal, in header order.
    public var signals: [WFDBSignalInfo]
    /// Comment lines without the leading `#` and surrounding spaces, wherever they appear.
    public var comments: [String]

    /// Parses header text; `source` names the file in errors.
    public init(text: String, source: String) throws {
        var comments: [String] = []
        var lines: [(number: Int, text: String)] = []
        // Swift treats CRLF as one Character, so splitting on `isNewline` accepts LF, CRLF and CR.
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0.isNewline }).enumerated() {
            var line = Substring(raw)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            if trimmed.hasPrefix("#") {
                comments.append(String(trimmed.dropFirst()).trimmingCharacters(in: .whitespaces))
                continue
            }
            // A `#` after fields starts a trailing comment.
            if let hash = trimmed.firstIndex(of: "#") {
                comments.append(String(trimmed[trimmed.index(after: hash)...]).trimmingCharacters(in: .whitespaces))
                lines.append((index + 1, String(trimmed[..<hash])))
            } else {
                lines.append((index + 1, trimmed))
            }
        }
        self.comments = comments
        guard let recordLine = lines.first else {
            throw DataFormatError(source: source, message: "no record line (the header has only comments or is empty)")
        }
        func fail(_ line: Int, _ message: String) -> DataFormatError {
            DataFormatError(source: source, message: "line \(line): \(message)")
        }
        func integer(_ text: Substring, _ line: Int, _ field: String) throws -> Int {
            guard let value = Int(text) else { throw fail(line, "\(field) '\(text)' is not an integer") }
            return value
        }
        func number(_ text: Substring, _ line: Int, _ field: String) throws -> Double {
            guard let value = Double(text), value.isFinite else { throw fail(line, "\(field) '\(text)' is not a number") }
            return value
        }

        let fields = recordLine.text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        let ln = recordLine.number
        guard fields.count >= 2 else { throw fail(ln, "record line needs a record name and a number of signals") }
        let nameParts = fields[0].split(separator: "/", omittingEmptySubsequences: false)
        recordName = String(nameParts[0])
        if nameParts.count > 1 {
            throw fail(ln, "multi-segment record '\(fields[0])' is not supported")
        }
        let signalCount = try integer(fields[1], ln, "number of signals")
        guard signalCount >= 0, signalCount <= 4096 else {
            throw fail(ln, "number of signals \(signalCount) is out of range")
        }
        frequency = 250
        counterFrequency = 250
        baseCounter = 0
        if fields.count > 2 {
            // fs[/counterfreq[(basecounter)]]
            let parts = fields[2].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            frequency = try number(parts[0], ln, "sampling frequency")
            guard frequency > 0 else { throw fail(ln, "sampling frequency \(frequency) must be positive") }
            counterFrequency = frequency
            if parts.count > 1 {
                var counter = parts[1]
                if let open = counter.firstIndex(of: "(") {
                    guard counter.hasSuffix(")") else { throw fail(ln, "base counter '\(counter)' lacks ')'") }
                    baseCounter = try number(counter[counter.index(after: open)..<counter.index(before: counter.endIndex)], ln, "base counter")
                    counter = counter[..<open]
                }
                counterFrequency = try number(counter, ln, "counter frequency")
            }
        }
        sampleCount = 0
        if fields.count > 3 {
            sampleCount = try integer(fields[3], ln, "number of samples")
            guard sampleCount >= 0 else { throw fail(ln, "number of samples \(sampleCount) is negative") }
        }
        baseTime = fields.count > 4 ? String(fields[4]) : ""
        baseDate = fields.count > 5 ? String(fields[5]) : ""

        let signalLines = lines.dropFirst()
        guard signalLines.count == signalCount else {
            throw fail(ln, "record line declares \(signalCount) signals but \(signalLines.count) signal lines follow")
        }
        var signals: [WFDBSignalInfo] = []
        for (number, text) in signalLines {
            // The description is the rest of the line after the ninth field and may contain spaces.
            var rest = Substring(text)
            var f: [Substring] = []
            while f.count < 9 {
                rest = rest.drop(while: { $0 == " " || $0 == "\t" })
                if rest.isEmpty { break }
                let end = rest.firstIndex(where: { $0 == " " || $0 == "\t" }) ?? rest.endIndex
                f.append(rest[..<end])
                rest = rest[end...]
            }
            let description = rest.trimmingCharacters(in: .whitespaces)
            guard f.count >= 2 else { throw fail(number, "signal line needs a file name and a format") }
            // format[xspf][:skew][+offset]
            var spec = f[1]
            var byteOffset = 0, skew = 0, spf = 1
            if let plus = spec.firstIndex(of: "+") {
                byteOffset = try integer(spec[spec.index(after: plus)...], number, "byte offset")
                spec = spec[..<plus]
            }
            if let colon = spec.firstIndex(of: ":") {
                skew = try integer(spec[spec.index(after: colon)...], number, "skew")
                spec = spec[..<colon]
            }
            if let x = spec.firstIndex(of: "x") {
                spf = try integer(spec[spec.index(after: x)...], number, "samples per frame")
                spec = spec[..<x]
            }
            let format = try integer(spec, number, "format")
            guard byteOffset >= 0, spf >= 1, spf <= 1 << 16 else {
                throw fail(number, "format field '\(f[1])' has an invalid byte offset or samples per frame")
            }
            // gain[(baseline)][/units]
            var gain = 200.0, baseline: Int?, units = "mV"
            if f.count > 2 {
                var g = f[2]
                if let slash = g.firstIndex(of: "/") {
                    units = String(g[g.index(after: slash)...])
                    g = g[..<slash]
                }
                if let open = g.firstIndex(of: "(") {
                    guard g.hasSuffix(")") else { throw fail(number, "ADC gain '\(f[2])' lacks ')'") }
                    baseline = try integer(g[g.index(after: open)..<g.index(before: g.endIndex)], number, "baseline")
                    g = g[..<open]
                }
                gain = try Self.parseGain(g, number, source)
                if gain == 0 { gain = 200 }
            }
            let adcResolution = f.count > 3 ? try integer(f[3], number, "ADC resolution") : 0
            let adcZero = f.count > 4 ? try integer(f[4], number, "ADC zero") : 0
            let initialValue = f.count > 5 ? try integer(f[5], number, "initial value") : adcZero
            let checksum = f.count > 6 ? try integer(f[6], number, "checksum") : 0
            let blockSize = f.count > 7 ? try integer(f[7], number, "block size") : 0
            var fullDescription = description
            if f.count > 8 { fullDescription = description.isEmpty ? String(f[8]) : String(f[8]) + " " + description }
            signals.append(WFDBSignalInfo(
                fileName: String(f[0]), format: format, samplesPerFrame: spf, skew: skew, byteOffset: byteOffset,
                gain: gain, baseline: baseline ?? adcZero, units: units, adcResolution: adcResolution, adcZero: adcZero,
                initialValue: initialValue, checksum: checksum, blockSize: blockSize, description: fullDescription))
        }
        self.signals = signals
    }

    private static func parseGain(_ text: Substring, _ line: Int, _ source: String) throws -> Double {
        guard let value = Double(text), value.isFinite, value >= 0 else {
            throw DataFormatError(source: source, message: "line \(line): ADC gain '\(text)' is not a non-negative number")
        }
        return value
    }
}

/// A WFDB record: header plus decoded signals.
///
/// ```swift
/// let record = try WFDBRecord(contentsOf: "Data/ecg/100")   // finds 100.hea and 100.dat
/// record.signals        // Tensor [2, 650000], millivolts
/// ```
public struct WFDBRecord {
    /// The parsed header.
    public let header: WFDBHeader
    /// Raw ADC values, channel-major: `digital[c * sampleCount + i]`.
    public let digital: [Int32]
    /// Samples per channel.
    public let sampleCount: Int
    /// Physical values `(digital − baseline) / gain`, shape `[channels, samples]`; invalid samples are NaN.
    public let signals: Tensor

    /// Per-signal metadata (name, units, gain, baseline, format).
    public var signalInfo: [WFDBSignalInfo] { header.signals }
    /// Sampling frequency in Hz.
    public var frequency: Double { header.frequency }
    /// Header comments (PTB keeps age, sex and diagnoses here).
    public var comments: [String] { header.comments }
    /// Signal descriptions (lead names).
    public var signalNames: [String] { header.signals.map(\.description) }

    /// Reads the record named `path` without extension (e.g. `Data/ecg/100`).
    public init(contentsOf path: String) throws {
        try self.init(header: path + ".hea")
    }

    /// Reads the header at `path` and the signal files next to it.
    public init(header path: String) throws {
        let bytes = try readFileBytes(atPath: path)
        guard let text = String(validating: bytes, as: UTF8.self) ?? String(bytes: bytes, encoding: .isoLatin1) else {
            throw DataFormatError(source: path, message: "header is not text")
        }
        if bytes.contains(0) { throw DataFormatError(source: path, message: "header contains NUL bytes; not a text header") }
        let header = try WFDBHeader(text: text, source: path)
        let folder = (path as NSString).deletingLastPathComponent
        try self.init(header: header, folder: folder, headerPath: path)
    }

    init(header: WFDBHeader, folder: String, headerPath: String) throws {
        self.header = header
        let channels = header.signals.count
        // Group signals by file, keeping first-appearance order; within a file they are interleaved.
        var fileOrder: [String] = []
        var members: [String: [Int]] = [:]
        for (index, signal) in header.signals.enumerated() {
            if members[signal.fileName] == nil { fileOrder.append(signal.fileName) }
            members[signal.fileName, default: []].append(index)
        }
        var count = header.sampleCount
        var decoded: [[Int32]] = Array(repeating: [], count: channels)
        for file in fileOrder {
            let indices = members[file]!
            let first = header.signals[indices[0]]
            let filePath = folder.isEmpty ? file : folder + "/" + file
            for i in indices {
                let s = header.signals[i]
                guard s.format == first.format, s.byteOffset == first.byteOffset else {
                    throw DataFormatError(source: headerPath, message: "signals in \(file) mix formats or byte offsets")
                }
                guard s.samplesPerFrame == 1, s.skew == 0 else {
                    throw DataFormatError(source: headerPath, message: "signal '\(s.description)' uses samples per frame \(s.samplesPerFrame) / skew \(s.skew); only 1 / 0 are supported")
                }
                guard s.blockSize == 0 else {
                    throw DataFormatError(source: headerPath, message: "signal '\(s.description)' has block size \(s.blockSize); only 0 is supported")
                }
            }
            guard [212, 16, 80].contains(first.format) else {
                throw DataFormatError(source: headerPath, message: "signal format \(first.format) in \(file) is not supported (212, 16, 80 are)")
            }
            let bytes = try readFileBytes(atPath: filePath)
            let k = indices.count
            let available = max(0, bytes.count - first.byteOffset)
            let totalSamples: Int
            switch first.format {
            case 212: totalSamples = available / 3 * 2 + (available % 3 >= 2 ? 1 : 0)
            case 16: totalSamples = available / 2
            default: totalSamples = available
            }
            let framesInFile = totalSamples / k
            if count == 0 && header.sampleCount == 0 { count = framesInFile }
            guard framesInFile >= count else {
                throw DataFormatError(source: filePath, message: "truncated: the header promises \(count) samples of \(k) signals in format \(first.format), the file holds \(framesInFile)")
            }
            let outputs = try Self.decode(bytes: bytes, offset: first.byteOffset, format: first.format, channels: k, frames: count)
            for (j, i) in indices.enumerated() { decoded[i] = outputs[j] }
        }
        if channels == 0 { count = header.sampleCount }
        sampleCount = count
        var digital = [Int32](); digital.reserveCapacity(channels * count)
        for channel in decoded { digital.append(contentsOf: channel) }
        self.digital = digital
        var physical = [Float](repeating: 0, count: channels * count)
        physical.withUnsafeMutableBufferPointer { out in
            digital.withUnsafeBufferPointer { d in
                for c in 0..<channels {
                    let s = header.signals[c]
                    let invalid: Int32 = s.format == 212 ? -2048 : s.format == 16 ? -32768 : -128
                    let scale = 1 / s.gain, base = Double(s.baseline)
                    for i in c * count..<(c + 1) * count {
                        let v = d[i]
                        out[i] = v == invalid ? .nan : Float((Double(v) - base) * scale)
                    }
                }
            }
        }
        signals = Tensor(physical, shape: [channels, count])
    }

    /// Decodes `frames` frames of `channels` interleaved samples; returns one array per channel.
    static func decode(bytes: [UInt8], offset: Int, format: Int, channels k: Int, frames: Int) throws -> [[Int32]] {
        var out = Array(repeating: [Int32](repeating: 0, count: frames), count: k)
        if frames == 0 { return out } // an empty file has no base address to read from
        bytes.withUnsafeBufferPointer { raw in
            let b = raw.baseAddress! + offset
            for c in 0..<k {
                out[c].withUnsafeMutableBufferPointer { o in
                    switch format {
                    case 16:
                        for f in 0..<frames {
                            let p = 2 * (f * k + c)
                            o[f] = Int32(Int16(bitPattern: UInt16(b[p]) | UInt16(b[p + 1]) << 8))
                        }
                    case 80:
                        for f in 0..<frames { o[f] = Int32(b[f * k + c]) - 128 }
                    default: // 212: samples in pairs; byte 1 holds the high nibbles of both.
                        for f in 0..<frames {
                            let n = f * k + c
                            let p = (n >> 1) * 3
                            let v: Int32
                            if n & 1 == 0 {
                                v = Int32(b[p]) | Int32(b[p + 1] & 0x0F) << 8
                            } else {
                                v = Int32(b[p + 2]) | Int32(b[p + 1] & 0xF0) << 4
                            }
                            o[f] = (v << 20) >> 20 // sign-extend 12 bits
                        }
                    }
                }
            }
        }
        return out
    }
}
