import Foundation
import Galen
import GalenData
import GalenNN
import GalenOptim

/// The two self-supervised objectives of a character language model.
public enum LanguageModelObjective: String, Sendable, CaseIterable {
    /// GPT: predict every next character from the ones before it.
    case causal
    /// BERT: hide 15% of the characters (80% become [MASK], 10% a random character, 10% stay) and
    /// predict them from both sides.
    case masked
}

/// A corpus of short sequences (peptides, SMILES) as character ids with the special tokens a
/// language model needs: id 0 padding, 1 unknown, 2… the characters, then begin, end and mask.
public struct CharacterCorpus: Sendable {
    public let vocabulary: CharacterVocabulary
    public let sequences: [[Int]]
    public var begin: Int { vocabulary.count }
    public var end: Int { vocabulary.count + 1 }
    public var mask: Int { vocabulary.count + 2 }
    /// Ids the model predicts over.
    public var size: Int { vocabulary.count + 3 }

    /// The vocabulary is learned from `texts` (pass the training texts, then `encoding` the rest).
    public init(texts: [String], vocabulary: CharacterVocabulary? = nil) {
        let vocabulary = vocabulary ?? CharacterVocabulary(sequences: texts)
        self.vocabulary = vocabulary
        sequences = texts.map(vocabulary.encode)
    }

    /// The characters of ids, specials dropped.
    public func text(_ ids: [Int]) -> String {
        vocabulary.decode(ids.filter { $0 >= 2 && $0 < vocabulary.count })
    }
}

/// Settings of `LanguageModelTraining`.
public struct LanguageModelConfiguration: Sendable {
    public var objective = LanguageModelObjective.causal
    /// Longest sequence the model reads (longer ones are cut).
    public var contextLength = 64
    public var dimension = 64
    public var layers = 2
    public var heads = 4
    public var epochs = 10
    public var batchSize = 64
    public var learningRate = 3e-3
    public var seed: UInt64 = 0

    public init() {}
}

/// One epoch of `trainLanguageModel`.
public struct LanguageModelEpoch: Sendable {
    public let epoch: Int
    public let trainLoss: Double
    /// Mean cross-entropy per predicted token on the validation sequences, in nats.
    public let validationLoss: Double
    /// e^validationLoss: how many characters the model is choosing between, on average.
    public var validationPerplexity: Double { Foundation.exp(validationLoss) }
    /// Masked objective: how often the hidden character is the model's top guess.
    public let validationAccuracy: Double
    public let seconds: Double
}

/// A causal or masked character language model trained on `train` and scored on `validation`
/// (a reproducible function of the seed). The unigram baseline — predicting every character from
/// its training frequency — is what a model that learned nothing about context would reach.
public final class LanguageModelTraining {
    public let corpus: CharacterCorpus
    public let validation: CharacterCorpus
    public let configuration: LanguageModelConfiguration
    public let model: CharacterLanguageModel
    public private(set) var history: [LanguageModelEpoch] = []
    let generator: Generator

    public init(train: CharacterCorpus, validation: CharacterCorpus, configuration: LanguageModelConfiguration) {
        check(validation.vocabulary == train.vocabulary, "LanguageModelTraining: validation must use the training vocabulary")
        corpus = train
        self.validation = validation
        self.configuration = configuration
        generator = Generator(seed: configuration.seed)
        model = Generator.withDefault(generator) {
            CharacterLanguageModel(vocabulary: train.size, contextLength: configuration.contextLength,
                                   causal: configuration.objective == .causal, dimension: configuration.dimension,
                                   heads: configuration.heads, layers: configuration.layers)
        }
    }

    /// Cross-entropy (nats per token) of the training characters' frequencies on `validation`'s
    /// predicted tokens (characters and, for the causal objective, the end token).
    public var unigramBaselineLoss: Double {
        var counts = [Double](repeating: 1, count: corpus.size)  // add-one smoothing
        for sequence in corpus.sequences {
            for id in sequence.prefix(configuration.contextLength - 2) { counts[id] += 1 }
            if configuration.objective == .causal { counts[corpus.end] += 1 }
        }
        let total = counts.reduce(0, +)
        var loss = 0.0, tokens = 0
        for sequence in validation.sequences {
            var predicted = Array(sequence.prefix(configuration.contextLength - 2))
            if configuration.objective == .causal { predicted.append(corpus.end) }
            for id in predicted {
                loss -= Foundation.log(counts[id] / total)
                tokens += 1
            }
        }
        return loss / Double(max(tokens, 1))
    }

    /// A batch: model input ids, target ids (−100 where nothing is predicted) and key padding mask.
    func batch(_ sequences: [[Int]], generator: Generator) -> (input: IntTensor, target: IntTensor, padding: IntTensor) {
        let length = configuration.contextLength
        var input = [Int](repeating: 0, count: sequences.count * length)
        var target = [Int](repeating: -100, count: sequences.count * length)
        var padding = [Int](repeating: 1, count: sequences.count * length)
        for (row, sequence) in sequences.enumerated() {
            let base = row * length
            switch configuration.objective {
            case .causal:
                // [begin] c1 … cn [end], inputs all but the last, targets all but the first.
                let tokens = [corpus.begin] + sequence.prefix(length - 1) + (sequence.count < length ? [corpus.end] : [])
                for i in 0..<(tokens.count - 1) {
                    input[base + i] = tokens[i]
                    target[base + i] = tokens[i + 1]
                    padding[base + i] = 0
                }
            case .masked:
                let tokens = [corpus.begin] + sequence.prefix(length - 2) + [corpus.end]
                for (i, token) in tokens.enumerated() {
                    input[base + i] = token
                    padding[base + i] = 0
                }
                for i in 1..<(tokens.count - 1) where generator.nextDouble() < 0.15 {
                    target[base + i] = tokens[i]
                    let u = generator.nextDouble()
                    if u < 0.8 {
                        input[base + i] = corpus.mask
                    } else if u < 0.9 {
                        input[base + i] = 2 + generator.nextInt(below: corpus.vocabulary.count - 2)
                    }
                }
            }
        }
        let shape = [sequences.count, length]
        return (IntTensor(input, shape: shape), IntTensor(target, shape: shape), IntTensor(padding, shape: shape))
    }

    /// Sum of token losses, tokens predicted and (masked) correct top guesses of one batch.
    func evaluate(_ batch: (input: IntTensor, target: IntTensor, padding: IntTensor)) -> (Tensor, Int, Int) {
        let logits = model.logits(batch.input, keyPaddingMask: batch.padding)
        let flat = logits.reshaped([-1, corpus.size])
        let labels = batch.target.reshaped([batch.target.count])
        let predicted = labels.scalars.filter { $0 != -100 }.count
        let loss = crossEntropy(logits: flat, labels: labels, ignoreIndex: -100, reduction: .sum)
        var correct = 0
        if configuration.objective == .masked {
            let guesses = noGrad { flat.argmax(axis: 1) }.scalars
            for (guess, label) in zip(guesses, labels.scalars) where label != -100 && guess == label { correct += 1 }
        }
        return (loss, predicted, correct)
    }

    /// Runs the epochs; `progress` sees each one as it ends.
    public func run(progress: ((LanguageModelEpoch) -> Void)? = nil) {
        let c = configuration
        Generator.withDefault(generator) {
            let optimizer = AdamW(model.parameters(), learningRate: c.learningRate, weightDecay: 0.01)
            let stepsPerEpoch = (corpus.sequences.count + c.batchSize - 1) / c.batchSize
            let scheduler = CosineAnnealingLR(optimizer: optimizer, tMax: c.epochs * stepsPerEpoch)
            // The validation masks are drawn once, so every epoch is scored on the same task.
            let validationGenerator = Generator(seed: c.seed &+ 1)
            let validationBatches = stride(from: 0, to: validation.sequences.count, by: 256).map { start in
                batch(Array(validation.sequences[start..<min(start + 256, validation.sequences.count)]), generator: validationGenerator)
            }
            for epoch in 1...c.epochs {
                let started = Date()
                model.train()
                var order = Array(corpus.sequences.indices)
                for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, generator.nextInt(below: i + 1)) }
                var lossSum = 0.0, tokens = 0
                for start in stride(from: 0, to: order.count, by: c.batchSize) {
                    let rows = order[start..<min(start + c.batchSize, order.count)].map { corpus.sequences[$0] }
                    let (loss, predicted, _) = evaluate(batch(rows, generator: generator))
                    guard predicted > 0 else { continue }
                    optimizer.zeroGrad()
                    (loss / Float(predicted)).backward()
                    _ = clipGradNorm(model.parameters(), maxNorm: 1)
                    optimizer.step()
                    scheduler.step()
                    lossSum += Double(loss.item)
                    tokens += predicted
                }
                model.eval()
                var validationLoss = 0.0, validationTokens = 0, correct = 0
                noGrad {
                    for b in validationBatches {
                        let (loss, predicted, right) = evaluate(b)
                        validationLoss += Double(loss.item)
                        validationTokens += predicted
                        correct += right
                    }
                }
                let record = LanguageModelEpoch(
                    epoch: epoch, trainLoss: lossSum / Double(max(tokens, 1)),
                    validationLoss: validationLoss / Double(max(validationTokens, 1)),
                    validationAccuracy: Double(correct) / Double(max(validationTokens, 1)),
                    seconds: Date().timeIntervalSince(started))
                history.append(record)
                progress?(record)
            }
        }
    }

    /// Causal models: `count` sequences sampled from [begin] at `temperature`.
    public func samples(count: Int, temperature: Float, seed: UInt64) -> [String] {
        let generator = Generator(seed: seed)
        return (0..<count).map { _ in
            corpus.text(model.sample(prompt: [corpus.begin], maxTokens: configuration.contextLength - 1,
                                     temperature: temperature, stop: corpus.end, generator: generator))
        }
    }
}
