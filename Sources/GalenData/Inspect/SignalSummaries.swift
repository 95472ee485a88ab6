import Foundation
import Galen

// Summaries of WFDB (PhysioNet) files: record headers and annotation files.

func summarizeWFDBHeader(_ path: String) throws -> FileSummary {
    let folder = (path as NSString).deletingLastPathComponent
    var header = try readWFDBHeader(path)
    let files = Array(Set(header.signals.map(\.fileName))).sorted()
    let present = files.map { FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent($0)) }
    if !files.isEmpty && present.allSatisfy({ $0 }) {
        // Decoding checks that the signal files hold what the header promises.
        header = try WFDBRecord(header: path).header
    }
    let signals = header.signals.map { signal -> SummaryValue in
        .record([
            SummaryField("name", .text(signal.description)),
            SummaryField("file", .text(signal.fileName)),
            SummaryField("fmt", .integer(signal.format)),
            SummaryField("gain", .number(signal.gain)),
            SummaryField("units", .text(signal.units)),
            SummaryField("baseline", .integer(signal.baseline)),
            SummaryField("adc_resolution", .integer(signal.adcResolution)),
        ])
    }
    var fields = [
        SummaryField("record", .text(header.recordName)),
        SummaryField("fs", .number(header.frequency)),
        SummaryField("length", .integer(header.sampleCount)),
        SummaryField("duration_s", .number(Double(header.sampleCount) / header.frequency)),
        SummaryField("signal_count", .integer(header.signals.count)),
        SummaryField("signals", .list(signals)),
        SummaryField("signal_files", .list(zip(files, present).map { file, here in
            .record([SummaryField("name", .text(file)), SummaryField("present", .flag(here))])
        })),
    ]
    if !header.baseTime.isEmpty { fields.append(SummaryField("base_time", .text(header.baseTime))) }
    if !header.baseDate.isEmpty { fields.append(SummaryField("base_date", .text(header.baseDate))) }
    if !header.comments.isEmpty { fields.append(SummaryField("comments", .list(header.comments.map { .text($0) }))) }
    return FileSummary(path: path, format: "WFDB header", fields: fields)
}

func summarizeWFDBAnnotations(_ path: String) throws -> FileSummary {
    let annotations = try WFDBAnnotations(contentsOf: path)
    var counts: [Int: Int] = [:]
    for annotation in annotations.annotations { counts[annotation.code, default: 0] += 1 }
    let byCode = counts.keys.sorted().map { code in
        SummaryField(WFDBAnnotations.symbols.indices.contains(code) ? WFDBAnnotations.symbols[code] : "[\(code)]", .integer(counts[code]!))
    }
    var fields = [
        SummaryField("annotations", .integer(annotations.annotations.count)),
        SummaryField("beats", .integer(annotations.beats.count)),
        SummaryField("counts", .record(byCode)),
    ]
    if let first = annotations.annotations.first, let last = annotations.annotations.last {
        fields.append(SummaryField("sample_range", .integers([first.sample, last.sample])))
    }
    let rhythms = annotations.annotations.filter { $0.code == 28 && !$0.aux.isEmpty }.map(\.aux)
    if !rhythms.isEmpty { fields.append(SummaryField("rhythm_changes", .list(rhythms.map { .text($0) }))) }
    // The record's header, next to the annotations, gives the sampling frequency.
    let headerPath = ((path as NSString).deletingPathExtension as String) + ".hea"
    if FileManager.default.fileExists(atPath: headerPath), let header = try? readWFDBHeader(headerPath) {
        fields.append(SummaryField("fs", .number(header.frequency)))
        if let last = annotations.annotations.last {
            fields.append(SummaryField("last_annotation_s", .number(Double(last.sample) / header.frequency)))
        }
    }
    return FileSummary(path: path, format: "WFDB annotations", fields: fields)
}

/// The header at `path`, without reading the signal files.
private func readWFDBHeader(_ path: String) throws -> WFDBHeader {
    let bytes = try readFileBytes(atPath: path)
    if bytes.contains(0) { throw DataFormatError(source: path, message: "contains NUL bytes; not a WFDB text header") }
    let text = String(validating: bytes, as: UTF8.self) ?? String(decoding: bytes, as: UTF8.self)
    return try WFDBHeader(text: text, source: path)
}
