import Galen

/// What a table's target column is predicted as.
public enum TabularTask: Sendable, Equatable {
    /// The target's distinct values are classes; examples carry a class index in `label`.
    case classification
    /// The target is a number; examples carry it in `target`.
    case regression
}

/// How one input column becomes model features, with what was learned from the training rows.
public enum TabularFeature: Sendable, Equatable {
    /// One feature: a missing value becomes `imputation` (the training mean), then
    /// `(x − mean) / std` (mean 0 and std 1 when not standardizing, so only imputation happens).
    case numeric(column: String, mean: Double, std: Double, imputation: Double)
    /// One feature per category (one-hot, in this order); a missing value or a category never seen
    /// in the training rows gives all zeros, as scikit-learn's `handle_unknown="ignore"` does.
    case categorical(column: String, categories: [String])

    /// The input column.
    public var column: String {
        switch self {
        case .numeric(let column, _, _, _), .categorical(let column, _): return column
        }
    }

    /// The names of the features it produces: the column, or `column=category` per category.
    public var featureNames: [String] {
        switch self {
        case .numeric(let column, _, _, _): return [column]
        case .categorical(let column, let categories): return categories.map { "\(column)=\($0)" }
        }
    }
}

/// Turns chosen columns of a `CSVTable` into model features and targets, fitted on training rows
/// only and then applied unchanged to validation and test rows (scikit-learn's fit / transform).
///
/// ```swift
/// let table = try CSVTable(contentsOf: "Data/tabular/breast_cancer.csv", options: CSVOptions(skipLines: 1, hasHeader: false))
/// let split = DataSplit.stratified(labels: try table.column("30").map { $0 ?? "" }, validation: 0.15, test: 0.15, seed: 0)
/// let prep = try TabularPreprocessor.fit(table, rows: split.train, features: (0..<30).map(String.init), target: "30")
/// let train = try prep.dataset(table, rows: split.train), test = try prep.dataset(table, rows: split.test)
/// ```
///
/// Numeric columns: missing values (and NaN) are imputed with the training mean, then standardized
/// with the training mean and population standard deviation (a constant column keeps std 1).
/// Text columns and the columns named in `categorical` are one-hot encoded with the categories
/// seen in the training rows, sorted.
public struct TabularPreprocessor: Sendable, Equatable {
    /// The encoding of each feature column, in the order given to `fit`.
    public let features: [TabularFeature]
    /// The target column.
    public let target: String
    /// Classification or regression.
    public let task: TabularTask
    /// For classification, the class values seen in the training rows, sorted (numerically when
    /// the column is numeric); a label is an index into this list. Empty for regression.
    public let classes: [String]

    /// The name of every output feature, in order.
    public var featureNames: [String] { features.flatMap(\.featureNames) }
    /// The number of output features.
    public var featureCount: Int { featureNames.count }

    /// Learns imputation values, standardization and categories from `rows` of `table`.
    ///
    /// Columns whose inferred type is `.string`, and the columns in `categorical`, are one-hot
    /// encoded; the others are numeric. Errors name the file, the line and the column.
    public static func fit(
        _ table: CSVTable, rows: [Int], features: [String], target: String, task: TabularTask = .classification,
        categorical: Set<String> = [], standardize: Bool = true
    ) throws -> TabularPreprocessor {
        checkRows(rows, table: table, caller: "TabularPreprocessor.fit")
        check(!rows.isEmpty, "TabularPreprocessor.fit: no training rows")
        check(!features.contains(target), "TabularPreprocessor.fit: the target '\(target)' is also a feature")
        let targetColumn = try table.requireColumn(target)
        var encodings: [TabularFeature] = []
        for name in features {
            let column = try table.requireColumn(name)
            if categorical.contains(name) || table.columnTypes[column] == .string {
                let values = Set(rows.compactMap { table.value(row: $0, column: column) })
                encodings.append(.categorical(column: name, categories: table.sortedValues(values, column: column)))
                continue
            }
            let values = try rows.compactMap { try table.finiteNumber(row: $0, column: column) }
            guard !values.isEmpty else {
                throw DataFormatError(source: table.source, message: "column '\(name)' has no values in the \(rows.count) training rows")
            }
            let mean = values.reduce(0, +) / Double(values.count)
            // Imputed values sit at the mean, so they add nothing to the variance's numerator.
            var variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(rows.count)
            if variance.isZero || !variance.isFinite { variance = 1 }
            encodings.append(.numeric(column: name, mean: standardize ? mean : 0, std: standardize ? variance.squareRoot() : 1,
                                      imputation: mean))
        }
        let classes = task == .classification ? try table.fitClasses(rows: rows, column: targetColumn) : []
        return TabularPreprocessor(features: encodings, target: target, task: task, classes: classes)
    }

    /// A preprocessor from its parts (e.g. restored from a saved configuration).
    public init(features: [TabularFeature], target: String, task: TabularTask, classes: [String]) {
        check(task == .regression || !classes.isEmpty, "TabularPreprocessor: a classification needs classes")
        self.features = features
        self.target = target
        self.task = task
        self.classes = classes
    }

    /// The features of `rows`, row-major [rows.count × featureCount].
    public func transform(_ table: CSVTable, rows: [Int]) throws -> [Float] {
        checkRows(rows, table: table, caller: "TabularPreprocessor.transform")
        let width = featureCount
        var output = [Float](repeating: 0, count: rows.count * width)
        var offset = 0
        for feature in features {
            let column = try table.requireColumn(feature.column)
            switch feature {
            case .numeric(_, let mean, let std, let imputation):
                for (i, row) in rows.enumerated() {
                    let x = try table.finiteNumber(row: row, column: column) ?? imputation
                    output[i * width + offset] = Float((x - mean) / std)
                }
                offset += 1
            case .categorical(_, let categories):
                let position = Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($1, $0) })
                for (i, row) in rows.enumerated() {
                    if let value = table.value(row: row, column: column), let k = position[value] {
                        output[i * width + offset + k] = 1
                    }
                }
                offset += categories.count
            }
        }
        return output
    }

    /// The dataset of `rows`: features as `transform` makes them, with a class index (or a
    /// regression target) per row. A class not seen when fitting, or a missing target, throws
    /// naming the line.
    public func dataset(_ table: CSVTable, rows: [Int]) throws -> TabularDataset {
        let features = try transform(table, rows: rows)
        let targetColumn = try table.requireColumn(target)
        switch task {
        case .classification:
            let labels = try table.classLabels(rows: rows, column: targetColumn, classes: classes)
            return TabularDataset(features: features, featureNames: featureNames, labels: labels, classes: classes, rows: rows)
        case .regression:
            let targets = try table.regressionTargets(rows: rows, column: targetColumn)
            return TabularDataset(features: features, featureNames: featureNames, targets: targets, rows: rows)
        }
    }

}

/// Rows of a table as model-ready features with a class index or a regression target each, made
/// by `TabularPreprocessor.dataset`.
///
/// An example's `input` is the row's features, shape [featureCount]; `label` is the class index
/// (shape [1], collated to [N]) for classification, or `target` the value (shape [1], collated
/// to [N, 1]) for regression.
public struct TabularDataset: Dataset, Equatable {
    /// Features, row-major [count × featureCount].
    public let features: [Float]
    /// The name of each feature column.
    public let featureNames: [String]
    /// Class index per example (classification), else nil.
    public let labels: [Int]?
    /// Target value per example (regression), else nil.
    public let targets: [Float]?
    /// Class names: `classes[label]` (empty for regression).
    public let classes: [String]
    /// The table row each example came from.
    public let rows: [Int]

    public var count: Int { rows.count }
    /// Features per example.
    public var featureCount: Int { featureNames.count }

    /// A dataset from its parts; `features` holds `rows.count × featureNames.count` values.
    public init(features: [Float], featureNames: [String], labels: [Int]? = nil, targets: [Float]? = nil,
                classes: [String] = [], rows: [Int]) {
        check(features.count == rows.count * featureNames.count,
              "TabularDataset: \(features.count) feature values for \(rows.count) rows × \(featureNames.count) features")
        check((labels == nil) != (targets == nil), "TabularDataset: give labels (classification) or targets (regression)")
        check((labels?.count ?? targets?.count) == rows.count, "TabularDataset: one label or target per row")
        self.features = features
        self.featureNames = featureNames
        self.labels = labels
        self.targets = targets
        self.classes = classes
        self.rows = rows
    }

    public func example(at index: Int, generator: Generator) throws -> Example {
        check(index >= 0 && index < count, "TabularDataset.example: index \(index) is outside 0..<\(count)")
        let start = index * featureCount
        let input = Tensor(Array(features[start..<start + featureCount]), shape: [featureCount])
        return Example(input: input, label: labels.map { IntTensor([$0[index]]) },
                       target: targets.map { Tensor([$0[index]], shape: [1]) })
    }

    /// All features as one [count, featureCount] tensor (for full-batch models).
    public var featureMatrix: Tensor { Tensor(features, shape: [count, featureCount]) }
}


// Targets and cells as the dataset builders (tabular and sequence) read them.
extension CSVTable {
    /// The number in a cell, nil when missing or NaN; infinity throws (it would poison a mean).
    func finiteNumber(row: Int, column: Int) throws -> Double? {
        guard let x = try number(row: row, column: column), !x.isNaN else { return nil }
        guard x.isFinite else {
            throw DataFormatError(source: source, message: "line \(line(ofRow: row)), column '\(columnNames[column])': infinite value")
        }
        return x
    }

    /// Distinct values sorted numerically for a numeric column, as text otherwise.
    func sortedValues(_ values: Set<String>, column: Int) -> [String] {
        guard columnTypes[column].isNumeric else { return values.sorted() }
        return values.sorted { (parseCSVNumber($0) ?? 0, $0) < (parseCSVNumber($1) ?? 0, $1) }
    }

    /// The class values (trimmed of spaces) in `rows` of a target column, sorted; a missing value throws.
    func fitClasses(rows: [Int], column: Int) throws -> [String] {
        var values = Set<String>()
        for row in rows { values.insert(try classValue(row: row, column: column)) }
        return sortedValues(values, column: column)
    }

    /// The index in `classes` of each row's target; a missing or unknown class throws naming the line.
    func classLabels(rows: [Int], column: Int, classes: [String]) throws -> [Int] {
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        return try rows.map { row in
            let value = try classValue(row: row, column: column)
            guard let label = index[value] else {
                throw DataFormatError(
                    source: source,
                    message: "line \(line(ofRow: row)): class '\(value)' of '\(columnNames[column])' was not in the training rows (classes: \(classes.prefix(20)))")
            }
            return label
        }
    }

    /// Each row's regression target; a missing one throws naming the line.
    func regressionTargets(rows: [Int], column: Int) throws -> [Float] {
        try rows.map { row in
            guard let y = try finiteNumber(row: row, column: column) else {
                throw DataFormatError(source: source, message: "line \(line(ofRow: row)): the target '\(columnNames[column])' is missing")
            }
            return Float(y)
        }
    }

    private func classValue(row: Int, column: Int) throws -> String {
        guard let value = value(row: row, column: column) else {
            throw DataFormatError(source: source, message: "line \(line(ofRow: row)): the target '\(columnNames[column])' is missing")
        }
        return String(trimmedCSVField(value))
    }
}

/// Stops with a message naming `caller` when a row index is outside the table.
func checkRows(_ rows: [Int], table: CSVTable, caller: String) {
    if let bad = rows.first(where: { $0 < 0 || $0 >= table.rowCount }) {
        check(false, "\(caller): row \(bad) is outside 0..<\(table.rowCount) of \(table.source)")
    }
}
