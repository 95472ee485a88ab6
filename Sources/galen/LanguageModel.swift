import ArgumentParser
import Foundation
import Galen
import GalenData
import GalenTrain

/// `galen lm`: a small character-level transformer language model on peptides or SMILES.
struct LanguageModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lm",
        abstract: "Train a character-level transformer language model (GPT-style causal or BERT-style masked) on peptides or SMILES.",
        discussion: """
        The corpus is the bundled AMPvsUniProt peptides (amp-peptides) or ESOL's SMILES strings (esol), \
        90% for training and 10% held out. Each epoch prints the training loss and the held-out loss and \
        perplexity (and, for --objective masked, how often the hidden character is the top guess), next to \
        the unigram baseline: a model that knows only character frequencies. A causal model then samples \
        --samples sequences at --temperature. --output saves model.safetensors and vocabulary.txt.
        Example: galen lm --data amp-peptides --objective causal --epochs 10 --samples 5 --temperature 0.8
        """)

    @Option(help: "Corpus: amp-peptides or esol.") var data = "amp-peptides"
    @Option(help: "causal (GPT) or masked (BERT).") var objective = "causal"
    @Option(help: "Longest sequence the model reads.") var context = 64
    @Option(help: "Model width.") var dimension = 64
    @Option(help: "Encoder layers.") var layers = 2
    @Option(help: "Passes over the corpus.") var epochs = 10
    @Option(help: "Sequences per step.") var batchSize = 64
    @Option(help: "Peak learning rate (AdamW, cosine schedule).") var lr = 3e-3
    @Option(help: "Sequences to sample after training (causal).") var samples = 5
    @Option(help: "Sampling temperature: below 1 is more conservative, above 1 more varied.") var temperature: Float = 0.8
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Folder for model.safetensors and vocabulary.txt.") var output: String?

    func run() throws {
        try reportingErrors {
            guard let objective = LanguageModelObjective(rawValue: objective) else {
                throw CommandFailure("--objective must be causal or masked, got '\(objective)'")
            }
            guard context >= 8, dimension >= 8, dimension % 4 == 0, layers > 0, epochs > 0, batchSize > 0, lr > 0 else {
                throw CommandFailure("--context and --dimension need at least 8 (dimension a multiple of 4); --layers, --epochs, --batch-size and --lr must be positive")
            }
            guard temperature > 0, samples >= 0 else { throw CommandFailure("--temperature must be positive and --samples ≥ 0") }
            let texts = try corpusTexts()
            let split = DataSplit.random(count: texts.count, validation: 0, test: 0.1, seed: seed)
            let train = CharacterCorpus(texts: split.train.map { texts[$0] })
            let held = CharacterCorpus(texts: split.test.map { texts[$0] }, vocabulary: train.vocabulary)
            var c = LanguageModelConfiguration()
            (c.objective, c.contextLength, c.dimension, c.layers, c.epochs, c.batchSize, c.learningRate, c.seed) =
                (objective, context, dimension, layers, epochs, batchSize, lr, seed)
            let training = LanguageModelTraining(train: train, validation: held, configuration: c)
            let baseline = training.unigramBaselineLoss
            print("\(data): \(train.sequences.count) training and \(held.sequences.count) held-out sequences, "
                  + "\(train.vocabulary.count - 2) characters; \(objective.rawValue) model with \(training.model.parameterCount()) parameters")
            print(String(format: "unigram baseline: held-out loss %.3f nats/token, perplexity %.2f", baseline, Foundation.exp(baseline)))
            training.run { e in
                var line = String(format: "epoch %2d  loss %.3f  held-out loss %.3f  perplexity %.2f", e.epoch, e.trainLoss,
                                  e.validationLoss, e.validationPerplexity)
                if objective == .masked { line += String(format: "  masked accuracy %.3f", e.validationAccuracy) }
                print(line + String(format: "  %.1f s", e.seconds))
            }
            if objective == .causal && samples > 0 {
                let known = Set(texts)
                for text in training.samples(count: samples, temperature: temperature, seed: seed) {
                    print("sample: \(text)\(known.contains(text) ? "  (in the corpus)" : "")")
                }
            }
            if let output {
                try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
                try training.model.save(to: output + "/model.safetensors")
                let lines = ["<pad>", "<unk>"] + train.vocabulary.characters.map { String($0) } + ["<begin>", "<end>", "<mask>"]
                try writeFileAtomically(Data((lines.joined(separator: "\n") + "\n").utf8), toPath: output + "/vocabulary.txt")
                print("wrote \(output)/model.safetensors and vocabulary.txt (token id = line number − 1)")
            }
        }
    }

    func corpusTexts() throws -> [String] {
        switch data {
        case "amp-peptides": return try BundledCorpus.peptides().sequences.filter { !$0.isEmpty }
        case "esol": return try BundledCorpus.smiles()
        default: throw CommandFailure("--data must be amp-peptides or esol, got '\(data)'")
        }
    }
}
