import Foundation

// Summaries of array and table files: NPY, NPZ, CSV.

func summarizeNPY(_ path: String) throws -> FileSummary {
    let array = try NPYArray(contentsOf: path)
    let prefix = try readPrefix(ofFileAtPath: path, count: 8)
    let version = "\(prefix[6]).\(prefix[7])"
    var fields = [
        SummaryField("version", .text(version)),
        SummaryField("dtype", .text(array.descr)),
        SummaryField("dtype_name", .text("\(array.dtype)")),
        SummaryField("shape", .integers(array.shape)),
        SummaryField("fortran_order", .flag(array.isFortranOrder)),
        SummaryField("elements", .integer(array.count)),
    ]
    if let range = valueRange(array.floatTensor().scalars) { fields.append(SummaryField("value_range", .numbers(range))) }
    return FileSummary(path: path, format: "NPY \(version)", fields: fields)
}

func summarizeNPZ(_ path: String, md5: String) throws -> FileSummary {
    let npz = try NPZ(contentsOf: path)
    let members = try npz.names.map { name -> SummaryValue in
        let array = try npz.array(named: name)
        return .record([
            SummaryField("name", .text(name)), SummaryField("dtype", .text(array.descr)), SummaryField("shape", .integers(array.shape)),
        ])
    }
    var fields = [SummaryField("arrays", .integer(npz.names.count)), SummaryField("members", .list(members))]
    if let info = MedMNISTInfo.matching(fileName: path) {
        fields.append(SummaryField("medmnist", .record([
            SummaryField("dataset", .text(info.name)),
            SummaryField("modality", .text(info.modality)),
            SummaryField("task", .text(info.task.rawValue)),
            SummaryField("classes", .integer(info.classCount)),
            SummaryField("official_md5", .flag(md5 == info.md5)),
        ])))
    }
    return FileSummary(path: path, format: "NPZ", fields: fields)
}

func summarizeCSV(_ path: String) throws -> FileSummary {
    let table: CSVTable
    var skipped = 0
    var hasHeader = true
    do {
        table = try CSVTable(contentsOf: path)
    } catch {
        // scikit-learn's bundled tables start with a count line, "569,30,malignant,benign"
        // (samples, features, class names), and have no header: read those from the second line.
        let firstLine = try readPrefix(ofFileAtPath: path, count: 512).prefix { $0 != UInt8(ascii: "\n") }
        let counts = String(decoding: firstLine, as: UTF8.self).split(separator: ",").prefix(2).compactMap { Int($0) }
        guard counts.count == 2,
              let sklearn = try? CSVTable(contentsOf: path, options: CSVOptions(skipLines: 1, hasHeader: false)),
              sklearn.rowCount == counts[0], sklearn.columnCount == counts[1] + 1
        else { throw error }
        table = sklearn
        skipped = 1
        hasHeader = false
    }
    let columns = (0..<table.columnCount).map { column -> SummaryValue in
        let missing = (0..<table.rowCount).reduce(0) { $0 + (table.value(row: $1, column: column) == nil ? 1 : 0) }
        return .record([
            SummaryField("name", .text(table.columnNames[column])),
            SummaryField("type", .text(table.columnTypes[column].rawValue)),
            SummaryField("missing", .integer(missing)),
        ])
    }
    return FileSummary(path: path, format: "CSV", fields: [
        SummaryField("rows", .integer(table.rowCount)),
        SummaryField("columns", .integer(table.columnCount)),
        SummaryField("skipped_lines", .integer(skipped)),
        SummaryField("header", .flag(hasHeader)),
        SummaryField("column_types", .list(columns)),
    ])
}

/// The smallest and largest values, NaNs skipped; nil when there are none.
func valueRange(_ values: [Float]) -> [Double]? {
    var low = Float.infinity, high = -Float.infinity
    for value in values where !value.isNaN {
        low = min(low, value)
        high = max(high, value)
    }
    return low <= high ? [Double(low), Double(high)] : nil
}
