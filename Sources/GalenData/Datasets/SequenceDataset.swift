import Galen

/// Turns a text column of a `CSVTable` (peptides, SMILES, …) into fixed-length token ids with a
/// class or a regression target, with the vocabulary and classes learned from training rows only.
///
/// ```swift
/// let table = try CSVTable(contentsOf: "Data/molecules/delaney-processed.csv")
/// let split = DataSplit.random(count: table.rowCount, validation: 0.1, test: 0.1, seed: 0)
/// let prep = try SequencePreprocessor.fit(table, rows: split.train, sequence: "smiles",
///                                         target: "measured log solubility in mols per litre", task: .regression)
/// let train = try prep.dataset(table, rows: split.train)
/// ```
///
/// Sequences are trimmed of the spaces and tabs around them before they are split into characters.
public struct SequencePreprocessor: Sendable, Equatable {
    /// The column holding the sequences.
    public let sequence: String
    /// The target column.
    public let target: String
    /// Classification or regression.
    public let task: TabularTask
    /// Characters of the training sequences.
    public let vocabulary: CharacterVocabulary
    /// Every sequence is padded (with `CharacterVocabulary.paddingIndex`) or cut to this many tokens.
    public let maxLength: Int
    /// For classification, the class values of the training rows, sorted (numerically when the
    /// column is numeric); empty for regression.
    public let classes: [String]

    /// Learns the vocabulary, the classes and (unless given) `maxLength`, the longest training
    /// sequence, from `rows` of `table`. A missing sequence or target throws naming the line.
    public static func fit(
        _ table: CSVTable, rows: [Int], sequence: String, target: String, task: TabularTask = .classification,
        maxLength: Int? = nil
    ) throws -> SequencePreprocessor {
        checkRows(rows, table: table, caller: "SequencePreprocessor.fit")
        check(!rows.isEmpty, "SequencePreprocessor.fit: no training rows")
        let texts = try sequences(table, rows: rows, column: table.requireColumn(sequence))
        let targetColumn = try table.requireColumn(target)
        let classes = task == .classification ? try table.fitClasses(rows: rows, column: targetColumn) : []
        let longest = texts.map(\.count).max()!
        guard maxLength != nil || longest > 0 else {
            throw DataFormatError(source: table.source, message: "every training sequence in '\(sequence)' is empty")
        }
        return SequencePreprocessor(
            sequence: sequence, target: target, task: task, vocabulary: CharacterVocabulary(sequences: texts),
            maxLength: maxLength ?? longest, classes: classes)
    }

    /// A preprocessor from its parts (e.g. restored from a saved configuration).
    public init(sequence: String, target: String, task: TabularTask, vocabulary: CharacterVocabulary, maxLength: Int,
                classes: [String]) {
        check(maxLength > 0, "SequencePreprocessor: maxLength must be > 0, got \(maxLength)")
        check(task == .regression || !classes.isEmpty, "SequencePreprocessor: a classification needs classes")
        self.sequence = sequence
        self.target = target
        self.task = task
        self.vocabulary = vocabulary
        self.maxLength = maxLength
        self.classes = classes
    }

    /// The dataset of `rows`. A class not seen when fitting, or a missing value, throws naming the line.
    public func dataset(_ table: CSVTable, rows: [Int]) throws -> SequenceDataset {
        checkRows(rows, table: table, caller: "SequencePreprocessor.dataset")
        let texts = try Self.sequences(table, rows: rows, column: table.requireColumn(sequence))
        var tokens = [Int](repeating: CharacterVocabulary.paddingIndex, count: rows.count * maxLength)
        var lengths: [Int] = []
        lengths.reserveCapacity(rows.count)
        for (i, text) in texts.enumerated() {
            let ids = vocabulary.encode(text).prefix(maxLength)
            tokens.replaceSubrange(i * maxLength..<i * maxLength + ids.count, with: ids)
            lengths.append(ids.count)
        }
        let targetColumn = try table.requireColumn(target)
        switch task {
        case .classification:
            let labels = try table.classLabels(rows: rows, column: targetColumn, classes: classes)
            return SequenceDataset(tokens: tokens, lengths: lengths, maxLength: maxLength, labels: labels, classes: classes, rows: rows)
        case .regression:
            let targets = try table.regressionTargets(rows: rows, column: targetColumn)
            return SequenceDataset(tokens: tokens, lengths: lengths, maxLength: maxLength, targets: targets, rows: rows)
        }
    }

    private static func sequences(_ table: CSVTable, rows: [Int], column: Int) throws -> [String] {
        try rows.map { row in
            guard let text = table.value(row: row, column: column) else {
                throw DataFormatError(
                    source: table.source,
                    message: "line \(table.line(ofRow: row)): the sequence '\(table.columnNames[column])' is missing")
            }
            return String(trimmedCSVField(text))
        }
    }
}

/// Fixed-length token sequences with a class index or a regression target each, made by
/// `SequencePreprocessor.dataset`.
///
/// An example's `input` holds the token ids as Float values, shape [maxLength], padded at the end
/// with 0 (ids are exact in Float up to 2^24): an embedding layer takes them as indices. `label` is
/// the class index (shape [1], collated to [N]), or `target` the value (shape [1], collated to
/// [N, 1]). `lengths` gives the tokens before padding, for masking or packing.
public struct SequenceDataset: Dataset, Equatable {
    /// Token ids, row-major [count × maxLength], padded with `CharacterVocabulary.paddingIndex`.
    public let tokens: [Int]
    /// Tokens before padding per example (at most `maxLength`: longer sequences are cut).
    public let lengths: [Int]
    /// Tokens per example.
    public let maxLength: Int
    /// Class index per example (classification), else nil.
    public let labels: [Int]?
    /// Target value per example (regression), else nil.
    public let targets: [Float]?
    /// Class names: `classes[label]` (empty for regression).
    public let classes: [String]
    /// The table row each example came from.
    public let rows: [Int]

    public var count: Int { rows.count }

    /// A dataset from its parts; `tokens` holds `rows.count × maxLength` ids.
    public init(tokens: [Int], lengths: [Int], maxLength: Int, labels: [Int]? = nil, targets: [Float]? = nil,
                classes: [String] = [], rows: [Int]) {
        check(tokens.count == rows.count * maxLength && lengths.count == rows.count,
              "SequenceDataset: \(tokens.count) tokens and \(lengths.count) lengths for \(rows.count) rows × \(maxLength)")
        check((labels == nil) != (targets == nil), "SequenceDataset: give labels (classification) or targets (regression)")
        check((labels?.count ?? targets?.count) == rows.count, "SequenceDataset: one label or target per row")
        self.tokens = tokens
        self.lengths = lengths
        self.maxLength = maxLength
        self.labels = labels
        self.targets = targets
        self.classes = classes
        self.rows = rows
    }

    /// The token ids of example `index`, padding included.
    public func tokenIDs(at index: Int) -> ArraySlice<Int> {
        check(index >= 0 && index < count, "SequenceDataset: index \(index) is outside 0..<\(count)")
        return tokens[index * maxLength..<(index + 1) * maxLength]
    }

    public func example(at index: Int, generator: Generator) throws -> Example {
        Example(input: Tensor(tokenIDs(at: index).map(Float.init), shape: [maxLength]),
                label: labels.map { IntTensor([$0[index]]) }, target: targets.map { Tensor([$0[index]], shape: [1]) })
    }
}
