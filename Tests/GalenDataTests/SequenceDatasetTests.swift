import Foundation
import Galen
@testable import GalenData
import Testing

// Character vocabularies and fixed-length token datasets on peptides (antimicrobial or not) and
// ESOL SMILES (log solubility), against the encoding recorded by Scripts/fixtures/dataset_cases.py.

struct SequenceCases: Decodable {
    struct Case: Decodable, CustomTestStringConvertible {
        let name: String
        let characters: String
        let maxLength: Int
        let testRows: [Int]
        let testTokens: [[Int]]
        let testLengths: [Int]
        let testUnknownCount: Int
        let classes: [String]?
        let testClassCounts: [Int]?
        let testTargets: [Double]?
        var testDescription: String { name }
    }
    let sequences: [Case]

    static let shared = loadDatasetCases(SequenceCases.self)
}

private let peptidesPath = repositoryRoot.appendingPathComponent("Data/sequences/AMPvsUniProt.csv").path
private let esolPath = repositoryRoot.appendingPathComponent("Data/molecules/delaney-processed.csv").path
private let solubility = "measured log solubility in mols per litre"

/// The bundled file of a case and how its columns are named.
private func source(_ name: String) throws -> (table: CSVTable, sequence: String, target: String, task: TabularTask) {
    if name == "peptides" {
        // First line: "5200,1,UniProt,AMP" (counts and class names, scikit-learn style); no header.
        let table = try CSVTable(contentsOf: peptidesPath, options: CSVOptions(skipLines: 1, hasHeader: false))
        return (table, "0", "1", .classification)
    }
    return (try CSVTable(contentsOf: esolPath), "smiles", solubility, .regression)
}

@Suite struct SequenceDatasetTests {
    @Test(arguments: SequenceCases.shared.sequences)
    func encodesAsRecorded(_ expected: SequenceCases.Case) throws {
        let (table, sequence, target, task) = try source(expected.name)
        let (train, test) = fixtureSplit(table.rowCount)
        let prep = try SequencePreprocessor.fit(table, rows: train, sequence: sequence, target: target, task: task)
        #expect(String(prep.vocabulary.characters) == expected.characters)
        #expect(prep.vocabulary.count == expected.characters.count + 2)
        #expect(prep.maxLength == expected.maxLength)
        let dataset = try prep.dataset(table, rows: test)
        #expect(dataset.count == test.count && dataset.lengths == expected.testLengths)
        for (k, row) in expected.testRows.enumerated() {
            let index = test.firstIndex(of: row)!
            #expect(Array(dataset.tokenIDs(at: index)) == expected.testTokens[k], "row \(row)")
            let example = try dataset.example(at: index)
            #expect(example.input.shape == [expected.maxLength])
            #expect(example.input.scalars == expected.testTokens[k].map(Float.init))
        }
        let unknown = dataset.tokens.filter { $0 == CharacterVocabulary.unknownIndex }.count
        #expect(unknown == expected.testUnknownCount)
        if task == .classification {
            #expect(prep.classes == expected.classes)
            let labels = try #require(dataset.labels)
            #expect((0..<prep.classes.count).map { c in labels.filter { $0 == c }.count } == expected.testClassCounts)
        } else {
            let targets = try #require(dataset.targets)
            #expect(zip(targets, expected.testTargets!).allSatisfy { Double($0) == Double(Float($1)) })
        }
        let batch = Batch(collating: try (0..<5).map { try dataset.example(at: $0) }, indices: Array(0..<5))
        #expect(batch.input.shape == [5, expected.maxLength])
        #expect(task == .classification ? batch.label?.shape == [5] : batch.target?.shape == [5, 1])
    }

    @Test func vocabularyIsSortedAndRoundTrips() {
        let vocabulary = CharacterVocabulary(sequences: ["CCO", "c1ccccc1", "N#N"])
        #expect(vocabulary == CharacterVocabulary(sequences: ["N#N", "c1ccccc1", "CCO"]))
        #expect(vocabulary.characters == ["#", "1", "C", "N", "O", "c"])
        #expect(vocabulary.count == 8)
        #expect(vocabulary.encode("CCO") == [4, 4, 6])
        #expect(vocabulary.encode("CBr") == [4, 1, 1])
        #expect(vocabulary.decode([4, 4, 6, 0, 0]) == "CCO")
        #expect(vocabulary.decode([4, 1, 99]) == "C\u{FFFD}\u{FFFD}")
        #expect(vocabulary.decode(vocabulary.encode("c1ccccc1N#N")) == "c1ccccc1N#N")
    }

    @Test func fixedLengthCutsAndPads() throws {
        let (table, sequence, target, task) = try source("esol-smiles")
        let prep = try SequencePreprocessor.fit(table, rows: Array(0..<100), sequence: sequence, target: target, task: task, maxLength: 12)
        let dataset = try prep.dataset(table, rows: [0, 2])
        // Row 0 is Amigdalin (58 characters and a trailing space, trimmed); row 2 is citral, "CC(C)=CCCC(C)=CC(=O)".
        #expect(dataset.lengths == [12, 12])
        let citral = prep.vocabulary.encode("CC(C)=CCCC(C)=CC(=O)")
        #expect(Array(dataset.tokenIDs(at: 1)) == Array(citral.prefix(12)))
        let short = try SequencePreprocessor.fit(table, rows: [2], sequence: sequence, target: target, task: task)
        #expect(short.maxLength == 20)
        let padded = try short.dataset(table, rows: [1])  // Fenfuram: "Cc1occc1C(=O)Nc2ccccc2", 22 characters, cut to 20
        #expect(padded.lengths == [20] && padded.tokens.contains(CharacterVocabulary.unknownIndex))
        let one = try short.dataset(table, rows: [2])
        #expect(one.tokens == short.vocabulary.encode("CC(C)=CCCC(C)=CC(=O)"))
    }

    @Test func missingValuesThrowNamingTheLine() throws {
        let table = try CSVTable(bytes: Array("seq,y\nAKL,1\n,0\nGG,\n".utf8), source: "s.csv")
        let sequence = try #require(throws: DataFormatError.self) {
            try SequencePreprocessor.fit(table, rows: [0, 1], sequence: "seq", target: "y")
        }
        #expect(sequence.source == "s.csv" && sequence.message.contains("line 3: the sequence 'seq' is missing"), "\(sequence)")
        let prep = try SequencePreprocessor.fit(table, rows: [0], sequence: "seq", target: "y")
        let label = try #require(throws: DataFormatError.self) { try prep.dataset(table, rows: [2]) }
        #expect(label.message.contains("line 4: the target 'y' is missing"), "\(label)")
        let blank = try CSVTable(bytes: Array("seq,y\n  ,1\n".utf8), source: "b.csv")
        let empty = try #require(throws: DataFormatError.self) {
            try SequencePreprocessor.fit(blank, rows: [0], sequence: "seq", target: "y")
        }
        #expect(empty.message.contains("every training sequence in 'seq' is empty"), "\(empty)")
    }
}
