import Galen

/// Row indices of a train / validation / test split, each in increasing order.
///
/// ```swift
/// let split = DataSplit.stratified(labels: classes, validation: 0.15, test: 0.15, seed: 0)
/// let preprocessor = try TabularPreprocessor.fit(table, rows: split.train, features: names, target: "y")
/// let train = try preprocessor.dataset(table, rows: split.train)
/// ```
public struct DataSplit: Sendable, Equatable {
    public var train: [Int]
    public var validation: [Int]
    public var test: [Int]

    public init(train: [Int], validation: [Int], test: [Int]) {
        self.train = train
        self.validation = validation
        self.test = test
    }

    /// A seeded split that keeps each class's share in every part, as scikit-learn's stratified
    /// splitters do: within each class (taken in sorted order) the rows are shuffled, then
    /// round(n × test) go to test, round(n × validation) to validation and the rest to train.
    public static func stratified<Label: Hashable & Comparable>(
        labels: [Label], validation: Double, test: Double, seed: UInt64
    ) -> DataSplit {
        checkFractions(validation: validation, test: test)
        var rowsByLabel: [Label: [Int]] = [:]
        for (row, label) in labels.enumerated() { rowsByLabel[label, default: []].append(row) }
        let generator = Generator(seed: seed)
        var split = DataSplit(train: [], validation: [], test: [])
        for label in rowsByLabel.keys.sorted() {
            split.append(shuffled: rowsByLabel[label]!, validation: validation, test: test, generator: generator)
        }
        split.sort()
        return split
    }

    /// A seeded split of rows 0..<count without regard to labels (for regression).
    public static func random(count: Int, validation: Double, test: Double, seed: UInt64) -> DataSplit {
        checkFractions(validation: validation, test: test)
        check(count >= 0, "DataSplit.random: count must be >= 0, got \(count)")
        var split = DataSplit(train: [], validation: [], test: [])
        split.append(shuffled: Array(0..<count), validation: validation, test: test, generator: Generator(seed: seed))
        split.sort()
        return split
    }

    private mutating func append(shuffled rows: [Int], validation: Double, test: Double, generator: Generator) {
        let order = generator.permutation(rows.count).map { rows[$0] }
        let testCount = Int((Double(rows.count) * test).rounded())
        let validationCount = min(Int((Double(rows.count) * validation).rounded()), rows.count - testCount)
        self.test += order[..<testCount]
        self.validation += order[testCount..<testCount + validationCount]
        self.train += order[(testCount + validationCount)...]
    }

    private mutating func sort() {
        train.sort()
        validation.sort()
        test.sort()
    }

    private static func checkFractions(validation: Double, test: Double) {
        check(validation >= 0 && test >= 0 && validation + test <= 1,
              "DataSplit: validation (\(validation)) and test (\(test)) must be >= 0 and sum to at most 1")
    }
}
