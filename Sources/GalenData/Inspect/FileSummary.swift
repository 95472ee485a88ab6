import Foundation

/// One value in a file summary: text, a number, a yes/no, a list, or a nested record.
public indirect enum SummaryValue: Sendable, Equatable {
    case text(String)
    case integer(Int)
    case number(Double)
    case flag(Bool)
    case list([SummaryValue])
    case record([SummaryField])

    /// The text, when this is `.text`.
    public var text: String? { if case .text(let value) = self { return value } else { return nil } }
    /// The integer, when this is `.integer`.
    public var integer: Int? { if case .integer(let value) = self { return value } else { return nil } }
    /// The number, for `.number` and `.integer`.
    public var number: Double? {
        switch self {
        case .number(let value): return value
        case .integer(let value): return Double(value)
        default: return nil
        }
    }
    /// The yes/no, when this is `.flag`.
    public var flag: Bool? { if case .flag(let value) = self { return value } else { return nil } }
    /// The elements, when this is `.list`.
    public var list: [SummaryValue]? { if case .list(let value) = self { return value } else { return nil } }
    /// The field named `key`, when this is `.record`.
    public subscript(key: String) -> SummaryValue? {
        guard case .record(let fields) = self else { return nil }
        return fields.first { $0.key == key }?.value
    }

    /// A list of integers.
    static func integers(_ values: [Int]) -> SummaryValue { .list(values.map { .integer($0) }) }
    /// A list of numbers.
    static func numbers(_ values: [Double]) -> SummaryValue { .list(values.map { .number($0) }) }
    /// A matrix as a list of rows.
    static func matrix(_ rows: [[Double]]) -> SummaryValue { .list(rows.map { numbers($0) }) }
}

/// A named value in a summary.
public struct SummaryField: Sendable, Equatable {
    /// The name, in snake_case (`qform_code`), stable across versions.
    public let key: String
    public let value: SummaryValue

    public init(_ key: String, _ value: SummaryValue) {
        self.key = key
        self.value = value
    }
}

/// What `inspectFile(atPath:)` found in a file: its format and the header fields that matter, in
/// a fixed order.
public struct FileSummary: Sendable, Equatable {
    /// The file inspected.
    public let path: String
    /// The format and version, e.g. `NIfTI-1`, `NPY 1.0`.
    public let format: String
    /// The fields after `file` and `format`, in display order.
    public let fields: [SummaryField]

    public init(path: String, format: String, fields: [SummaryField]) {
        self.path = path
        self.format = format
        self.fields = fields
    }

    /// The field named `key` (`file` and `format` included).
    public subscript(key: String) -> SummaryValue? { SummaryValue.record(allFields)[key] }

    /// `file`, `format`, then `fields`.
    private var allFields: [SummaryField] { [SummaryField("file", .text(path)), SummaryField("format", .text(format))] + fields }

    /// Aligned `key: value` lines for people. Lists of lists (affines) and lists of records
    /// (signals, archive members) take one line per element.
    public func textLines() -> [String] {
        let width = allFields.map(\.key.count).max() ?? 0
        var lines: [String] = []
        for field in allFields {
            let label = field.key + ":" + String(repeating: " ", count: width - field.key.count + 1)
            let indent = String(repeating: " ", count: label.count)
            for (index, line) in renderLines(field.value).enumerated() {
                lines.append((index == 0 ? label : indent) + line)
            }
        }
        return lines
    }

    /// The summary as one JSON object with sorted keys (`file`, `format` and the fields), so that
    /// the output is stable. Non-finite numbers are written as the strings `nan`, `inf`, `-inf`.
    public func jsonText(pretty: Bool = true) -> String {
        let object = jsonValue(.record(allFields))
        var options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        if pretty { options.insert(.prettyPrinted) }
        // Only strings, numbers, booleans, arrays and dictionaries are built, which always serialize.
        let data = (try? JSONSerialization.data(withJSONObject: object, options: options)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// One or more lines for a value in the text form.
private func renderLines(_ value: SummaryValue) -> [String] {
    switch value {
    case .list(let elements) where !elements.isEmpty && elements.allSatisfy(isStructured):
        return elements.map(renderInline)
    case .list(let elements) where renderInline(value).count > 100:
        // Long lists of text (header comments) read better one per line.
        return elements.map(renderInline)
    default:
        return [renderInline(value)]
    }
}

private func isStructured(_ value: SummaryValue) -> Bool {
    switch value {
    case .list, .record: return true
    default: return false
    }
}

private func renderInline(_ value: SummaryValue) -> String {
    switch value {
    case .text(let text): return text
    case .integer(let integer): return String(integer)
    case .number(let number): return formatNumber(number)
    case .flag(let flag): return flag ? "yes" : "no"
    case .list(let elements): return "[" + elements.map(renderInline).joined(separator: ", ") + "]"
    case .record(let fields): return fields.map { "\($0.key): \(renderInline($0.value))" }.joined(separator: ", ")
    }
}

/// Up to 8 significant digits, without a trailing `.0` for whole numbers.
func formatNumber(_ number: Double) -> String {
    if number.isNaN { return "nan" }
    if number.isInfinite { return number > 0 ? "inf" : "-inf" }
    if number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
    return String(format: "%.8g", number)
}

private func jsonValue(_ value: SummaryValue) -> Any {
    switch value {
    case .text(let text): return text
    case .integer(let integer): return integer
    case .number(let number): return number.isFinite ? number : formatNumber(number)
    case .flag(let flag): return flag
    case .list(let elements): return elements.map(jsonValue)
    case .record(let fields):
        var object: [String: Any] = [:]
        for field in fields { object[field.key] = jsonValue(field.value) }
        return object
    }
}
