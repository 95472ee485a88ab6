import Foundation
import Galen
import GalenData
import GalenNN

// The bundled sequence datasets of `galen train`: ECG beats of MIT-BIH record 100, antimicrobial
// peptides and ESOL solubility from SMILES. Each becomes a PreparedData with `sequence` set, which
// routes model names to ModelZoo.makeSequence.

extension PreparedData {
    /// Bundled sequence datasets (signals and token sequences).
    public static let bundledSequences = ["mitbih-100", "amp-peptides", "esol"]

    /// The path of a file in the bundled `Data/` folder.
    public static func bundledFile(_ relativePath: String) throws -> String {
        guard let folder = DataDirectory.bundledFolders().first else {
            throw ConfigurationError(key: "data", message: "the bundled Data/ folder was not found (run from the repository)")
        }
        return folder + "/" + relativePath
    }

    /// MIT-BIH Arrhythmia Database record 100: a window of both leads around every annotated beat
    /// (0.25 s before the R peak, 0.45 s after, 252 samples at 360 Hz), classed by AAMI group.
    ///
    /// Split by time, not at random: beats in the first 60% of the 30-minute record train, the next
    /// 20% validate, the last 20% test, so neighbouring (nearly identical) beats cannot sit on both
    /// sides. Classes are the AAMI groups with training beats (N and S in record 100); beats of
    /// other groups (one V beat, in the test stretch) are dropped and counted in the description.
    /// Each window has its per-lead mean removed (baseline wander) and is divided by the training
    /// windows' standard deviation.
    static func mitbih100() throws -> PreparedData {
        let record = try bundledFile("ecg/100")
        let beats = try WFDBBeatDataset(record: record)
        let duration = beats.sampleCount
        func stretch(_ from: Double, _ to: Double) -> [Int] {
            beats.beats.indices.filter {
                let s = Double(beats.beats[$0].sample)
                return s >= from * Double(duration) && s < to * Double(duration)
            }
        }
        let (trainRows, validationRows, testRows) = (stretch(0, 0.6), stretch(0.6, 0.8), stretch(0.8, 1.0 + 1e-9))
        let present = Set(trainRows.map { beats.beats[$0].beatClass }).sorted { $0.rawValue < $1.rawValue }
        let classIndex = Dictionary(uniqueKeysWithValues: present.enumerated().map { ($1, $0) })
        func kept(_ rows: [Int]) -> [Int] { rows.filter { classIndex[beats.beats[$0].beatClass] != nil } }
        let dropped = (trainRows + validationRows + testRows).count - kept(trainRows + validationRows + testRows).count

        // Scale from the training windows only.
        var sumSquares = 0.0, values = 0
        for row in trainRows {
            let window = try beats.example(at: row).input.scalars
            let length = beats.windowLength
            for lead in 0..<beats.leads.count {
                let slice = window[(lead * length)..<((lead + 1) * length)]
                let mean = slice.reduce(0, +) / Float(length)
                for v in slice { sumSquares += Double((v - mean) * (v - mean)) }
                values += length
            }
        }
        let scale = Float((sumSquares / Double(max(values, 1))).squareRoot())
        func subset(_ rows: [Int]) -> AnyDataset {
            AnyDataset(BeatWindows(beats: beats, rows: kept(rows), classIndex: classIndex, scale: scale > 0 ? scale : 1))
        }
        let counts = { (rows: [Int]) in
            present.map { c in "\(c) \(kept(rows).filter { beats.beats[$0].beatClass == c }.count)" }.joined(separator: ", ")
        }
        let task: TrainingTask = present.count == 2 ? .binary : .multiClass(classes: present.count)
        return PreparedData(
            train: subset(trainRows), validation: subset(validationRows), test: subset(testRows), task: task,
            classNames: present.map { "\($0)" }, inputShape: [beats.leads.count, beats.windowLength], isImage: false,
            description: "MIT-BIH Arrhythmia Database record 100 (\(record)), leads \(beats.leads.joined(separator: ", ")), "
                + "\(beats.windowLength)-sample beat windows; split by time 60/20/20%: train \(counts(trainRows)), "
                + "validation \(counts(validationRows)), test \(counts(testRows)); \(dropped) beat(s) of classes without "
                + "training beats dropped; ODC-By 1.0 (PhysioNet)",
            name: "mitbih-100", sequence: .signal(channels: beats.leads.count, length: beats.windowLength))
    }

    /// AMPvsUniProt (modlamp): 5200 peptides, antimicrobial (1) or random UniProt (0), one token
    /// per amino acid; a stratified 70/15/15 split.
    static func ampPeptides(seed: UInt64) throws -> PreparedData {
        let path = try bundledFile(BundledCorpus.peptidesFile)
        let table = try BundledCorpus.peptideTable(path)
        let labels = try table.column("1").map { $0?.trimmingCharacters(in: .whitespaces) ?? "" }
        let split = DataSplit.stratified(labels: labels, validation: 0.15, test: 0.15, seed: seed)
        return try tokenData(table: table, split: split, sequence: "0", target: "1", task: .classification,
                             name: "amp-peptides", classNames: ["UniProt", "AMP"],
                             about: "AMPvsUniProt (\(path)): antimicrobial vs random UniProt peptides, stratified split; BSD-3 (modlamp)",
                             seed: seed)
    }

    /// ESOL (Delaney): 1128 molecules, measured log solubility (mol/L) from the SMILES string, one
    /// token per character; a random 80/10/10 split.
    static func esol(seed: UInt64) throws -> PreparedData {
        let path = try bundledFile(BundledCorpus.solubilityFile)
        let table = try CSVTable(contentsOf: path)
        let split = DataSplit.random(count: table.rowCount, validation: 0.1, test: 0.1, seed: seed)
        return try tokenData(table: table, split: split, sequence: "smiles", target: "measured log solubility in mols per litre",
                             task: .regression, name: "esol", classNames: [],
                             about: "ESOL / Delaney (\(path)): log solubility in mol/L from SMILES, random split", seed: seed)
    }

    static func tokenData(table: CSVTable, split: DataSplit, sequence: String, target: String, task: TabularTask,
                          name: String, classNames: [String], about: String, seed: UInt64) throws -> PreparedData {
        let prep = try SequencePreprocessor.fit(table, rows: split.train, sequence: sequence, target: target, task: task)
        let trainingTask: TrainingTask = task == .regression ? .regression(outputs: 1)
            : prep.classes.count == 2 ? .binary : .multiClass(classes: prep.classes.count)
        return PreparedData(
            train: AnyDataset(try prep.dataset(table, rows: split.train)),
            validation: AnyDataset(try prep.dataset(table, rows: split.validation)),
            test: AnyDataset(try prep.dataset(table, rows: split.test)),
            task: trainingTask, classNames: classNames.isEmpty ? prep.classes : classNames,
            inputShape: [prep.maxLength], isImage: false,
            description: "\(about) (seed \(seed)): train \(split.train.count), validation \(split.validation.count), "
                + "test \(split.test.count); \(prep.vocabulary.count) tokens, sequences up to \(prep.maxLength)",
            name: name, sequence: .tokens(vocabulary: prep.vocabulary.count, maxLength: prep.maxLength))
    }
}

/// The bundled text corpora for the commands that read sequences without a training task
/// (`galen lm`, `galen word2vec`).
public enum BundledCorpus {
    static let peptidesFile = "sequences/AMPvsUniProt.csv"
    static let solubilityFile = "molecules/delaney-processed.csv"

    /// A peptide table in scikit-learn's layout: a first line "count,features,class names…", then
    /// sequence,label rows (columns "0" and "1").
    static func peptideTable(_ path: String) throws -> CSVTable {
        try CSVTable(contentsOf: path, options: CSVOptions(skipLines: 1, hasHeader: false))
    }

    /// Peptides and their 0/1 labels (1: antimicrobial), from the bundled AMPvsUniProt or a file
    /// in its layout. A label other than 0 or 1 throws naming the line.
    public static func peptides(path: String? = nil) throws -> (sequences: [String], labels: [Int]) {
        let path = try path ?? PreparedData.bundledFile(peptidesFile)
        let table = try peptideTable(path)
        guard table.columnNames.count >= 2 else {
            throw DataFormatError(source: path, message: "needs a sequence column and a label column")
        }
        let sequences = try table.column("0").map { ($0 ?? "").trimmingCharacters(in: .whitespaces) }
        let labels = try table.column("1").enumerated().map { row, value -> Int in
            guard let label = Int(value?.trimmingCharacters(in: .whitespaces) ?? ""), label == 0 || label == 1 else {
                throw DataFormatError(source: path, message: "line \(table.line(ofRow: row)): the label must be 0 or 1, got '\(value ?? "")'")
            }
            return label
        }
        return (sequences, labels)
    }

    /// The SMILES strings of the bundled ESOL set.
    public static func smiles() throws -> [String] {
        let table = try CSVTable(contentsOf: PreparedData.bundledFile(solubilityFile))
        return try table.column("smiles").map { ($0 ?? "").trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// Beat windows of a WFDBBeatDataset: a subset of its beats, labels renumbered to the kept
/// classes, each lead's mean removed and divided by a fixed scale.
struct BeatWindows: Dataset {
    let beats: WFDBBeatDataset
    let rows: [Int]
    let classIndex: [AAMIClass: Int]
    let scale: Float

    var count: Int { rows.count }

    func example(at index: Int, generator: Generator) throws -> Example {
        let row = rows[index]
        let window = try beats.example(at: row, generator: generator).input
        let centred = window - window.mean(axis: 1, keepDims: true)
        return Example(input: centred / scale, label: IntTensor([classIndex[beats.beats[row].beatClass]!]))
    }
}
