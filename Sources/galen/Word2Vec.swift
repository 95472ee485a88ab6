import ArgumentParser
import Foundation
import Galen
import GalenData
import GalenNN
import GalenTrain

/// `galen word2vec`: skip-gram with negative sampling on the k-mers of a protein corpus (ProtVec).
struct Word2Vec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "word2vec",
        abstract: "Learn k-mer vectors of peptides with skip-gram and negative sampling (ProtVec), and probe them.",
        discussion: """
        Reads the bundled AMPvsUniProt peptides (or --data FILE: a CSV whose first column holds sequences and \
        second a 0/1 label, after one header line), cuts each into k-mers in its k reading frames, trains \
        skip-gram, prints the loss per epoch and the nearest neighbours of the most frequent k-mers, and \
        scores the vectors by a linear probe: logistic regression on each peptide's mean k-mer vector, \
        trained on 70% of the peptides and tested on the rest (ROC AUC). --output writes vectors.safetensors \
        and vocabulary.tsv.
        Example: galen word2vec --k 3 --dimension 32 --epochs 5
        """)

    @Option(help: "CSV of sequences and labels (default: the bundled AMPvsUniProt.csv).") var data: String?
    @Option(help: "k-mer length.") var k = 3
    @Option(help: "Vector size.") var dimension = 32
    @Option(help: "Largest context distance.") var window = 5
    @Option(help: "Noise words per pair.") var negatives = 5
    @Option(help: "Passes over the corpus.") var epochs = 5
    @Option(help: "Drop k-mers seen fewer times.") var minCount = 2
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Folder for vectors.safetensors and vocabulary.tsv.") var output: String?

    func run() throws {
        try reportingErrors {
            guard (1...6).contains(k) else { throw CommandFailure("--k must be between 1 and 6, got \(k)") }
            guard dimension > 0, window > 0, negatives > 0, epochs > 0, minCount > 0 else {
                throw CommandFailure("--dimension, --window, --negatives, --epochs and --min-count must be positive")
            }
            let (sequences, labels) = try BundledCorpus.peptides(path: data)
            let corpus = KmerCorpus(sequences: sequences, k: k, minCount: minCount)
            print("corpus: \(sequences.count) sequences, \(corpus.vocabulary.count) distinct \(k)-mers seen ≥ \(minCount) times")
            var c = Word2VecConfiguration()
            (c.dimension, c.window, c.negatives, c.epochs, c.seed) = (dimension, window, negatives, epochs, seed)
            let started = Date()
            let result = trainWord2Vec(corpus, configuration: c) { epoch, loss in
                print(String(format: "epoch %2d  loss %.4f", epoch, loss))
            }
            print(String(format: "%d pairs per epoch, %.1f s", result.pairsPerEpoch, Date().timeIntervalSince(started)))
            for word in corpus.vocabulary.prefix(5) {
                let near = result.neighbours(of: word, count: 4).map { "\($0.word) \(String(format: "%.2f", $0.similarity))" }
                print("nearest to \(word): \(near.joined(separator: ", "))")
            }
            let split = DataSplit.stratified(labels: labels, validation: 0, test: 0.3, seed: seed)
            if let auc = linearProbeAUC(result, labels: labels, train: split.train, test: split.test, seed: seed) {
                print(String(format: "linear probe on mean %d-mer vectors: test ROC AUC %.3f (%d train, %d test peptides)",
                             k, auc, split.train.count, split.test.count))
            }
            if let output {
                try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
                try result.model.save(to: output + "/vectors.safetensors")
                let tsv = zip(corpus.vocabulary, corpus.counts).map { "\($0)\t\($1)" }.joined(separator: "\n") + "\n"
                try writeFileAtomically(Data(tsv.utf8), toPath: output + "/vocabulary.tsv")
                print("wrote \(output)/vectors.safetensors (in_embed.weight row i = vocabulary.tsv line i) and vocabulary.tsv")
            }
        }
    }
}
