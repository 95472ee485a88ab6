import Foundation
import Galen

// CSV as RFC 4180 describes it, plus what real files add: LF or bare CR line ends, a UTF-8 byte-order
// mark, tab-separated variants, gzip compression and metadata lines before the header.

/// What the values of a CSV column look like, inferred from its non-missing fields.
public enum CSVColumnType: String, Sendable, Equatable {
    /// Every value is a decimal integer (`-3`, `+12`).
    case integer
    /// Every value is a decimal number (`1.5`, `2e-3`, `inf`), and not every one is an integer.
    /// A column with no values at all is also `float`, as pandas makes it.
    case float
    /// Every value is `true` or `false` (any letter case).
    case boolean
    /// Anything else: text or categories.
    case string

    /// Whether `doubles(_:)` can read the column.
    public var isNumeric: Bool { self != .string }
}

/// How to read a CSV file.
public struct CSVOptions: Sendable {
    /// The missing-value markers used unless told otherwise: empty, `NA`, `NaN` and `?`.
    public static let defaultMissingValues: Set<String> = ["", "NA", "NaN", "?"]

    /// The field separator (an ASCII character); nil picks a tab for `.tsv` and `.tab` files (also
    /// when gzipped, e.g. `x.tsv.gz`) and a comma otherwise.
    public var delimiter: Character?
    /// Lines to skip before the header, e.g. 1 for scikit-learn's "569,30,malignant,benign" line.
    public var skipLines: Int
    /// Whether the first record (after the skipped lines) names the columns.
    public var hasHeader: Bool
    /// Column names to use instead of the header's; without a header and without names, columns are
    /// called "0", "1", … as in pandas.
    public var columnNames: [String]?
    /// Fields that mean "no value" (compared exactly, after nothing is trimmed).
    public var missingValues: Set<String>

    public init(
        delimiter: Character? = nil, skipLines: Int = 0, hasHeader: Bool = true, columnNames: [String]? = nil,
        missingValues: Set<String> = CSVOptions.defaultMissingValues
    ) {
        self.delimiter = delimiter
        self.skipLines = skipLines
        self.hasHeader = hasHeader
        self.columnNames = columnNames
        self.missingValues = missingValues
    }
}

/// A CSV file read into columns of text, with a type inferred per column.
///
/// ```swift
/// let table = try CSVTable(contentsOf: "Data/molecules/delaney-processed.csv")
/// table.column("smiles")                                        // [String?]
/// try table.doubles("measured log solubility in mols per litre") // [Double], NaN when missing
/// ```
///
/// Fields are kept exactly as written (quotes removed, doubled quotes undoubled, nothing trimmed);
/// numbers are parsed on request, ignoring spaces and tabs around them. Bytes that are not valid
/// UTF-8 become U+FFFD. Empty lines between records are skipped.
public struct CSVTable: Sendable {
    /// The file (or the label given for in-memory bytes), for error messages.
    public let source: String
    /// Column names in file order.
    public let columnNames: [String]
    /// The inferred type of each column, in file order.
    public let columnTypes: [CSVColumnType]
    /// The markers that were read as missing values.
    public let missingValues: Set<String>
    /// The fields, column-major: `fields[column][row]`.
    private let fields: [[String]]
    /// The line of the file on which each row starts (1-based, counting skipped lines).
    private let rowLines: [Int]
    private let indexByName: [String: Int]

    /// Number of data rows (the header is not counted).
    public var rowCount: Int { rowLines.count }
    /// Number of columns.
    public var columnCount: Int { columnNames.count }

    /// Reads the CSV file at `path`; a gzip-compressed file (e.g. `.csv.gz`) is inflated first.
    public init(contentsOf path: String, options: CSVOptions = CSVOptions()) throws {
        var bytes = try readFileBytes(atPath: path)
        if isGzip(bytes) { bytes = try inflate(bytes, format: .gzip, source: path) }
        var options = options
        if options.delimiter == nil {
            let name = (path.hasSuffix(".gz") ? String(path.dropLast(3)) : path).lowercased()
            options.delimiter = name.hasSuffix(".tsv") || name.hasSuffix(".tab") ? "\t" : ","
        }
        try self.init(bytes: bytes, source: path, options: options)
    }

    /// Parses CSV `bytes` (uncompressed); `source` names them in errors.
    public init(bytes: [UInt8], source: String, options: CSVOptions = CSVOptions()) throws {
        let delimiter = options.delimiter ?? ","
        check(delimiter.isASCII && !["\"", "\n", "\r", "\r\n"].contains(delimiter),
              "CSVTable: the delimiter must be an ASCII character other than a quote or a line end, got \(delimiter.debugDescription)")
        check(options.skipLines >= 0, "CSVTable: skipLines must be >= 0, got \(options.skipLines)")
        func failure(_ message: String) -> DataFormatError { DataFormatError(source: source, message: message) }

        var names: [String]? = options.hasHeader ? nil : options.columnNames
        var columns: [[String]] = names.map { Array(repeating: [], count: $0.count) } ?? []
        var rowLines: [Int] = []
        var reader = CSVRecordReader(bytes: bytes, delimiter: delimiter.asciiValue!, source: source)
        try reader.skip(lines: options.skipLines)
        while let record = try reader.next() {
            // The first record fixes the columns: it names them, or (without a header) counts them.
            guard let expected = names else {
                if options.hasHeader {
                    if let given = options.columnNames, given.count != record.fields.count {
                        throw failure("line \(record.line): the header has \(record.fields.count) fields but \(given.count) column names were given")
                    }
                    names = options.columnNames ?? record.fields
                    columns = Array(repeating: [], count: record.fields.count)
                    continue
                }
                names = (0..<record.fields.count).map(String.init)
                columns = Array(repeating: [], count: record.fields.count)
                Self.append(record, to: &columns, rowLines: &rowLines)
                continue
            }
            guard record.fields.count == expected.count else {
                let what = options.hasHeader && options.columnNames == nil ? "the header has" : "the table has"
                throw failure("line \(record.line) has \(record.fields.count) fields, but \(what) \(expected.count) (a ragged row)")
            }
            Self.append(record, to: &columns, rowLines: &rowLines)
        }
        guard let names else {
            throw failure(options.hasHeader ? "no header line (the file has no records)" : "the file has no records")
        }
        var indexByName: [String: Int] = [:]
        for (i, name) in names.enumerated() {
            if let first = indexByName[name] {
                throw failure("the column name '\(name)' appears twice (columns \(first + 1) and \(i + 1))")
            }
            indexByName[name] = i
        }
        self.source = source
        self.columnNames = names
        self.missingValues = options.missingValues
        self.fields = columns
        self.rowLines = rowLines
        self.indexByName = indexByName
        self.columnTypes = columns.map { Self.inferType($0, missing: options.missingValues) }
    }

    private static func append(_ record: CSVRecord, to columns: inout [[String]], rowLines: inout [Int]) {
        for (c, field) in record.fields.enumerated() { columns[c].append(field) }
        rowLines.append(record.line)
    }

    // MARK: Access

    /// The index of the column called `name`, or nil.
    public func columnIndex(_ name: String) -> Int? { indexByName[name] }

    /// The index of the column called `name`; a missing column is an error in the file, naming it
    /// and the columns it has.
    public func requireColumn(_ name: String) throws -> Int {
        guard let index = indexByName[name] else {
            let known = columnNames.prefix(12).map { "'\($0)'" }.joined(separator: ", ")
            throw DataFormatError(
                source: source,
                message: "no column named '\(name)' (columns: \(known)\(columnNames.count > 12 ? ", …" : ""))")
        }
        return index
    }

    /// The inferred type of the column called `name`.
    public func type(of name: String) throws -> CSVColumnType { columnTypes[try requireColumn(name)] }

    /// The values of the column called `name`, nil where missing.
    public func column(_ name: String) throws -> [String?] {
        let c = try requireColumn(name)
        return fields[c].map { missingValues.contains($0) ? nil : $0 }
    }

    /// The field at `row` of column `column` (indices), nil when it is a missing-value marker.
    public func value(row: Int, column: Int) -> String? {
        check(row >= 0 && row < rowCount, "CSVTable.value: row \(row) is outside 0..<\(rowCount)")
        check(column >= 0 && column < columnCount, "CSVTable.value: column \(column) is outside 0..<\(columnCount)")
        let field = fields[column][row]
        return missingValues.contains(field) ? nil : field
    }

    /// The line of the file on which `row` starts (1-based), for error messages.
    public func line(ofRow row: Int) -> Int {
        check(row >= 0 && row < rowCount, "CSVTable.line(ofRow:): row \(row) is outside 0..<\(rowCount)")
        return rowLines[row]
    }

    /// The column called `name` as numbers: NaN where missing, 1 and 0 for booleans. A value that is
    /// not a number throws, naming its line.
    public func doubles(_ name: String) throws -> [Double] {
        let c = try requireColumn(name)
        return try fields[c].indices.map { row in
            try number(row: row, column: c) ?? .nan
        }
    }

    /// The number at `row` of column `column`, nil when missing; throws naming the line and column
    /// when the field is not a number or a boolean.
    public func number(row: Int, column: Int) throws -> Double? {
        guard let field = value(row: row, column: column) else { return nil }
        if let number = parseCSVNumber(field) { return number }
        switch trimmedCSVField(field).lowercased() {
        case "true": return 1
        case "false": return 0
        default:
            throw DataFormatError(
                source: source,
                message: "line \(rowLines[row]), column '\(columnNames[column])': '\(field)' is not a number")
        }
    }

    private static func inferType(_ values: [String], missing: Set<String>) -> CSVColumnType {
        var sawValue = false, allIntegers = true, allNumbers = true, allBooleans = true
        for value in values where !missing.contains(value) {
            sawValue = true
            let trimmed = trimmedCSVField(value)
            if allIntegers || allNumbers, Int(trimmed) == nil {
                allIntegers = false
                if allNumbers && parseCSVNumber(value) == nil { allNumbers = false }
            }
            if allBooleans {
                let lower = trimmed.lowercased()
                if lower != "true" && lower != "false" { allBooleans = false }
            }
            if !allNumbers && !allBooleans { return .string }
        }
        if !sawValue { return .float }
        if allIntegers { return .integer }
        if allNumbers { return .float }
        return .boolean
    }
}

/// `field` without the spaces and tabs around it.
func trimmedCSVField(_ field: String) -> Substring {
    let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
    guard let start = field.firstIndex(where: { !isBlank($0) }) else { return "" }
    let end = field.lastIndex(where: { !isBlank($0) })!
    return field[start...end]
}

/// The decimal number `field` spells (spaces and tabs around it allowed), or nil. Only decimal
/// notation, `inf`/`infinity` and `nan` are numbers: Swift's own parser would also take hex
/// floats such as `0x1p3`, which in a CSV are more likely identifiers.
func parseCSVNumber(_ field: String) -> Double? {
    let text = trimmedCSVField(field)
    var bytes = Array(text.utf8)[...]
    guard !bytes.isEmpty else { return nil }
    var negative = false
    if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") {
        negative = bytes.first == UInt8(ascii: "-")
        bytes = bytes.dropFirst()
    }
    switch String(decoding: bytes, as: UTF8.self).lowercased() {
    case "inf", "infinity": return negative ? -.infinity : .infinity
    case "nan": return .nan
    default: break
    }
    func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    var i = bytes.startIndex
    var digits = 0
    while i < bytes.endIndex, isDigit(bytes[i]) { i += 1; digits += 1 }
    if i < bytes.endIndex, bytes[i] == UInt8(ascii: ".") {
        i += 1
        while i < bytes.endIndex, isDigit(bytes[i]) { i += 1; digits += 1 }
    }
    guard digits > 0 else { return nil }
    if i < bytes.endIndex, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
        i += 1
        if i < bytes.endIndex, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
        var exponentDigits = 0
        while i < bytes.endIndex, isDigit(bytes[i]) { i += 1; exponentDigits += 1 }
        guard exponentDigits > 0 else { return nil }
    }
    guard i == bytes.endIndex else { return nil }
    return Double(text)
}

/// One record and the line it starts on.
struct CSVRecord {
    var fields: [String]
    var line: Int
}

/// Splits CSV bytes into records, counting lines for error messages.
struct CSVRecordReader {
    private let bytes: [UInt8]
    private let delimiter: UInt8
    private let source: String
    private var position = 0
    private var line = 1

    private static let quote = UInt8(ascii: "\"")
    private static let newline = UInt8(ascii: "\n")
    private static let carriageReturn = UInt8(ascii: "\r")

    init(bytes: [UInt8], delimiter: UInt8, source: String) {
        self.bytes = bytes
        self.delimiter = delimiter
        self.source = source
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
    }

    /// Skips `lines` physical lines (quotes are not interpreted there).
    mutating func skip(lines: Int) throws {
        for _ in 0..<lines {
            while position < bytes.count, !isLineEnd(bytes[position]) { position += 1 }
            guard position < bytes.count else {
                throw DataFormatError(source: source, message: "the file has fewer than the \(lines) lines to skip")
            }
            consumeLineEnd()
        }
    }

    /// The next record, or nil at the end of the data. Empty lines are skipped.
    mutating func next() throws -> CSVRecord? {
        while position < bytes.count, isLineEnd(bytes[position]) { consumeLineEnd() }
        guard position < bytes.count else { return nil }
        var record = CSVRecord(fields: [], line: line)
        while true {
            record.fields.append(try position < bytes.count && bytes[position] == Self.quote
                ? quotedField(number: record.fields.count + 1) : plainField())
            guard position < bytes.count else { return record }
            if bytes[position] == delimiter {
                position += 1
                continue
            }
            consumeLineEnd()
            return record
        }
    }

    private func isLineEnd(_ byte: UInt8) -> Bool { byte == Self.newline || byte == Self.carriageReturn }

    /// Consumes one LF, CRLF or bare CR at `position`.
    private mutating func consumeLineEnd() {
        if bytes[position] == Self.carriageReturn, position + 1 < bytes.count, bytes[position + 1] == Self.newline {
            position += 1
        }
        position += 1
        line += 1
    }

    /// An unquoted field: everything up to the delimiter or the line end, quotes included as written.
    private mutating func plainField() -> String {
        let start = position
        while position < bytes.count, bytes[position] != delimiter, !isLineEnd(bytes[position]) { position += 1 }
        return bytes.withUnsafeBufferPointer { String(decoding: $0[start..<position], as: UTF8.self) }
    }

    /// A quoted field starting at the opening quote; it may span lines and contain doubled quotes.
    private mutating func quotedField(number: Int) throws -> String {
        let openingLine = line
        position += 1
        var text: [UInt8] = []
        while true {
            guard position < bytes.count else {
                throw DataFormatError(
                    source: source,
                    message: "line \(openingLine), field \(number): unterminated quote (the quoted field opened there never closes)")
            }
            let byte = bytes[position]
            if byte == Self.quote {
                if position + 1 < bytes.count, bytes[position + 1] == Self.quote {
                    text.append(Self.quote)
                    position += 2
                    continue
                }
                position += 1
                break
            }
            let isLineBreak = byte == Self.newline
                || (byte == Self.carriageReturn && !(position + 1 < bytes.count && bytes[position + 1] == Self.newline))
            if isLineBreak { line += 1 }
            text.append(byte)
            position += 1
        }
        if position < bytes.count, bytes[position] != delimiter, !isLineEnd(bytes[position]) {
            throw DataFormatError(
                source: source,
                message: "line \(line), field \(number): text after the closing quote (a quote inside a quoted field must be doubled)")
        }
        return String(decoding: text, as: UTF8.self)
    }
}
