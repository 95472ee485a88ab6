import Foundation
import Galen
@testable import GalenData
import Testing

// TabularPreprocessor against scikit-learn (StandardScaler, SimpleImputer, OneHotEncoder) as
// recorded by Scripts/fixtures/dataset_cases.py, on breast cancer (classification), ESOL
// (regression) and a small table with missing values and categories.

struct TabularCases: Decodable {
    struct Numeric: Decodable, CustomTestStringConvertible {
        let name: String
        let features: [String]
        let target: String
        let task: String
        let mean: [Double]
        let std: [Double]
        let testRows: [Int]
        let testFeatures: [[Double]]
        let testFeatureSum: Double
        let classes: [String]?
        let testLabels: [Int]?
        let testTargets: [Double]?
        var testDescription: String { name }
    }
    struct Mixed: Decodable {
        let text: String
        let train: [Int]
        let evaluate: [Int]
        let featureNames: [String]
        let features: [[Double]]
        let classes: [String]
        let labels: [Int]
    }
    let tabular: [Numeric]
    let tabularMixed: Mixed

    static let shared = loadDatasetCases(TabularCases.self)
}

/// The fixtures' split: row i is a test row when i % 5 == 0.
func fixtureSplit(_ count: Int) -> (train: [Int], test: [Int]) {
    ((0..<count).filter { $0 % 5 != 0 }, (0..<count).filter { $0 % 5 == 0 })
}

private func dataPath(_ path: String) -> String { repositoryRoot.appendingPathComponent(path).path }

private func loadTable(_ name: String) throws -> CSVTable {
    name == "breast_cancer"
        ? try CSVTable(contentsOf: dataPath("Data/tabular/breast_cancer.csv"), options: CSVOptions(skipLines: 1, hasHeader: false))
        : try CSVTable(contentsOf: dataPath("Data/molecules/delaney-processed.csv"))
}

private func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-5) -> Bool {
    abs(a - b) <= tolerance * max(1, abs(b))
}

@Suite struct TabularDatasetTests {
    @Test(arguments: TabularCases.shared.tabular)
    func matchesScikitLearn(_ expected: TabularCases.Numeric) throws {
        let table = try loadTable(expected.name)
        let (train, test) = fixtureSplit(table.rowCount)
        let task: TabularTask = expected.task == "classification" ? .classification : .regression
        let prep = try TabularPreprocessor.fit(table, rows: train, features: expected.features, target: expected.target, task: task)
        #expect(prep.featureNames == expected.features)
        for (i, feature) in prep.features.enumerated() {
            guard case .numeric(let column, let mean, let std, let imputation) = feature else {
                Issue.record("\(feature) should be numeric")
                continue
            }
            #expect(column == expected.features[i])
            #expect(close(mean, expected.mean[i], 1e-12) && close(imputation, expected.mean[i], 1e-12), "\(column) mean")
            #expect(close(std, expected.std[i], 1e-12), "\(column) std")
        }
        let dataset = try prep.dataset(table, rows: test)
        #expect(dataset.count == test.count && dataset.rows == test && dataset.featureCount == expected.features.count)
        for (k, row) in expected.testRows.enumerated() {
            let example = try dataset.example(at: test.firstIndex(of: row)!)
            #expect(example.input.shape == [expected.features.count])
            for (got, want) in zip(example.input.scalars, expected.testFeatures[k]) {
                #expect(close(Double(got), want), "row \(row): \(got) vs \(want)")
            }
        }
        let sum = dataset.features.reduce(0.0) { $0 + Double($1) }
        #expect(abs(sum - expected.testFeatureSum) < 1e-3, "sum \(sum) vs \(expected.testFeatureSum)")
        if task == .classification {
            #expect(prep.classes == expected.classes)
            #expect(dataset.labels == expected.testLabels && dataset.targets == nil)
            let batch = Batch(collating: try (0..<4).map { try dataset.example(at: $0) }, indices: Array(0..<4))
            #expect(batch.input.shape == [4, expected.features.count])
            #expect(batch.label?.shape == [4] && batch.label?.scalars == Array(expected.testLabels!.prefix(4)))
        } else {
            #expect(prep.classes.isEmpty && dataset.labels == nil)
            let targets = try #require(dataset.targets)
            #expect(zip(targets.prefix(5), expected.testTargets!).allSatisfy { Double($0) == Double(Float($1)) })
            let example = try dataset.example(at: 0)
            #expect(example.label == nil && example.target?.shape == [1])
            let batch = Batch(collating: try (0..<3).map { try dataset.example(at: $0) }, indices: Array(0..<3))
            #expect(batch.target?.shape == [3, 1])
        }
    }

    @Test func categoriesAndImputationMatchScikitLearn() throws {
        let expected = TabularCases.shared.tabularMixed
        let table = try CSVTable(bytes: Array(expected.text.utf8), source: "mixed.csv")
        let prep = try TabularPreprocessor.fit(table, rows: expected.train, features: ["age", "sex", "site", "bmi"], target: "outcome")
        #expect(prep.featureNames == expected.featureNames)
        #expect(prep.classes == expected.classes)
        let dataset = try prep.dataset(table, rows: expected.evaluate)
        #expect(dataset.labels == expected.labels)
        for (i, want) in expected.features.enumerated() {
            let got = try dataset.example(at: i).input.scalars
            #expect(zip(got, want).allSatisfy { close(Double($0), $1) }, "row \(expected.evaluate[i]): \(got) vs \(want)")
        }
        // An integer-coded column can be declared categorical; without standardizing only imputation happens.
        let raw = try TabularPreprocessor.fit(table, rows: expected.train, features: ["age", "bmi"], target: "outcome",
                                              categorical: ["age"], standardize: false)
        #expect(raw.featureNames == ["age=34", "age=47", "age=51", "age=55", "age=62", "bmi"])
        let bmiMean = (22.5 + 30.1 + 27.0 + 33.3) / 4
        #expect(raw.features.last == .numeric(column: "bmi", mean: 0, std: 1, imputation: bmiMean))
        let rows = try raw.transform(table, rows: [1, 6])
        #expect(rows == [0, 0, 1, 0, 0, Float(bmiMean), 0, 0, 0, 1, 0, Float(bmiMean)])
    }

    @Test func sameFeaturesAsSklearnTable() throws {
        let table = try loadTable("breast_cancer")
        let reference = try SklearnTable(contentsOf: dataPath("Data/tabular/breast_cancer.csv"))
        let all = Array(0..<table.rowCount)
        let prep = try TabularPreprocessor.fit(table, rows: all, features: (0..<30).map(String.init), target: "30", standardize: false)
        let dataset = try prep.dataset(table, rows: all)
        #expect(dataset.featureMatrix.scalars == reference.features.scalars)
        #expect(dataset.labels == reference.labels.scalars)
        #expect(prep.classes == ["0", "1"])
    }

    @Test func stratifiedSplit() throws {
        let table = try loadTable("breast_cancer")
        let labels = try table.column("30").map { $0! }
        let split = DataSplit.stratified(labels: labels, validation: 0.15, test: 0.15, seed: 7)
        // 212 malignant, 357 benign: round(0.15 × n) of each class in validation and in test.
        func count(_ rows: [Int], _ label: String) -> Int { rows.filter { labels[$0] == label }.count }
        #expect(count(split.test, "0") == 32 && count(split.test, "1") == 54)
        #expect(count(split.validation, "0") == 32 && count(split.validation, "1") == 54)
        #expect(split.train.count == 569 - 172)
        #expect((split.train + split.validation + split.test).sorted() == Array(0..<569))
        #expect(split.train == split.train.sorted())
        #expect(DataSplit.stratified(labels: labels, validation: 0.15, test: 0.15, seed: 7) == split)
        #expect(DataSplit.stratified(labels: labels, validation: 0.15, test: 0.15, seed: 8) != split)
        let random = DataSplit.random(count: 1128, validation: 0.1, test: 0.2, seed: 1)
        #expect(random.validation.count == 113 && random.test.count == 226 && random.train.count == 789)
        #expect(Set(random.train).isDisjoint(with: random.test) && Set(random.validation).isDisjoint(with: random.test))

        // End to end: fit on train only, then the test rows; the split's classes are all known.
        let prep = try TabularPreprocessor.fit(table, rows: split.train, features: (0..<30).map(String.init), target: "30")
        let test = try prep.dataset(table, rows: split.test)
        #expect(test.count == 86 && test.labels!.filter { $0 == 0 }.count == 32)
    }

    @Test func errorsNameTheFileAndLine() throws {
        let table = try CSVTable(bytes: Array("x,c,y\n1,a,p\n2,b,q\n3,a,r\n,b,\n5,a,p\n".utf8), source: "t.csv")
        let prep = try TabularPreprocessor.fit(table, rows: [0, 1], features: ["x", "c"], target: "y")
        let unknown = try #require(throws: DataFormatError.self) { try prep.dataset(table, rows: [2]) }
        #expect(unknown.source == "t.csv" && unknown.message.contains("line 4: class 'r' of 'y' was not in the training rows"), "\(unknown)")
        let missing = try #require(throws: DataFormatError.self) { try prep.dataset(table, rows: [3]) }
        #expect(missing.message.contains("line 5: the target 'y' is missing"), "\(missing)")
        let column = try #require(throws: DataFormatError.self) {
            try TabularPreprocessor.fit(table, rows: [0], features: ["z"], target: "y")
        }
        #expect(column.message.contains("no column named 'z'"))
        let empty = try #require(throws: DataFormatError.self) {
            try TabularPreprocessor.fit(table, rows: [3], features: ["x"], target: "c")
        }
        #expect(empty.message.contains("column 'x' has no values in the 1 training rows"), "\(empty)")
        let regression = try #require(throws: DataFormatError.self) {
            try TabularPreprocessor.fit(table, rows: [0], features: ["x"], target: "c", task: .regression).dataset(table, rows: [0])
        }
        #expect(regression.message.contains("line 2, column 'c': 'a' is not a number"), "\(regression)")
        // Missing feature values are imputed, so row 3 transforms (x = mean of rows 0–2 = 2 → 0).
        let imputed = try TabularPreprocessor.fit(table, rows: [0, 1, 2], features: ["x"], target: "c").transform(table, rows: [3])
        #expect(imputed == [0])
    }
}
