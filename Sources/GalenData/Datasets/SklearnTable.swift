import Foundation
import Galen

/// A table in the layout of scikit-learn's bundled CSV files (e.g. Breast Cancer Wisconsin): a
/// first line "rows,features,class names…", then one row per sample with the features followed
/// by an integer class.
public struct SklearnTable {
    /// Features, [rows, features].
    public let features: Tensor
    /// Class of each row.
    public let labels: IntTensor
    /// Class names from the first line (may be empty).
    public let classNames: [String]

    public var count: Int { labels.count }
    public var featureCount: Int { features.shape[1] }

    /// Reads the file at `path`; errors name the file, the line and the column.
    public init(contentsOf path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DataFormatError(source: path, message: "cannot read the file (does it exist?)")
        }
        var lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard !lines.isEmpty else { throw DataFormatError(source: path, message: "the file is empty") }
        let header = lines.removeFirst().split(separator: ",").map(String.init)
        guard header.count >= 2, let rowCount = Int(header[0]), let featureCount = Int(header[1]) else {
            throw DataFormatError(source: path, message: "line 1 should start with the row and feature counts")
        }
        guard lines.count == rowCount else {
            throw DataFormatError(source: path, message: "line 1 announces \(rowCount) rows but the file has \(lines.count)")
        }
        var values: [Float] = []
        values.reserveCapacity(rowCount * featureCount)
        var labels: [Int] = []
        for (i, line) in lines.enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == featureCount + 1 else {
                throw DataFormatError(source: path, message: "line \(i + 2) has \(fields.count) fields, expected \(featureCount + 1)")
            }
            for (column, field) in fields.dropLast().enumerated() {
                guard let value = Float(field) else {
                    throw DataFormatError(source: path, message: "line \(i + 2), column \(column + 1): '\(field)' is not a number")
                }
                values.append(value)
            }
            guard let label = Int(fields.last!) else {
                throw DataFormatError(source: path, message: "line \(i + 2): target '\(fields.last!)' is not an integer class")
            }
            labels.append(label)
        }
        self.init(
            features: Tensor(values, shape: [rowCount, featureCount]), labels: IntTensor(labels),
            classNames: Array(header.dropFirst(2)))
    }

    /// A table from its parts.
    public init(features: Tensor, labels: IntTensor, classNames: [String] = []) {
        check(features.rank == 2 && features.shape[0] == labels.count,
              "SklearnTable: features \(features.shape) do not match \(labels.count) labels")
        self.features = features
        self.labels = labels
        self.classNames = classNames
    }

    /// The rows at `indices`, in that order.
    public func rows(_ indices: [Int]) -> SklearnTable {
        SklearnTable(
            features: features.indexSelect(axis: 0, index: IntTensor(indices)),
            labels: IntTensor(indices.map { labels.scalars[$0] }), classNames: classNames)
    }
}
