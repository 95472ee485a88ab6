import Foundation
import Galen
import GalenData
import GalenMetrics
import GalenNN
import GalenOptim

/// Protein sequences as "sentences" of k-mers, the way ProtVec (Asgari & Mofrad, 2015) feeds
/// them to word2vec: each sequence is read in its k reading frames, each frame cut into
/// non-overlapping k-mers.
public struct KmerCorpus: Sendable {
    public let k: Int
    /// The k-mers kept (seen at least `minCount` times), most frequent first.
    public let vocabulary: [String]
    public let counts: [Int]
    /// Per sequence, per reading frame, the k-mer ids (k-mers below `minCount` dropped).
    public let sentences: [[[Int]]]

    public init(sequences: [String], k: Int, minCount: Int = 1) {
        check(k > 0 && minCount > 0, "KmerCorpus: k and minCount must be positive, got \(k), \(minCount)")
        func frames(_ sequence: String) -> [[String]] {
            let characters = Array(sequence)
            return (0..<k).map { shift in
                stride(from: shift, to: characters.count - k + 1, by: k).map { String(characters[$0..<($0 + k)]) }
            }
        }
        var frequency: [String: Int] = [:]
        let framed = sequences.map(frames)
        for sentence in framed.joined() { for word in sentence { frequency[word, default: 0] += 1 } }
        let kept = frequency.filter { $0.value >= minCount }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        self.k = k
        vocabulary = kept.map(\.key)
        counts = kept.map(\.value)
        let id = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, $0) })
        sentences = framed.map { $0.map { $0.compactMap { id[$0] } } }
    }
}

/// Settings of `trainWord2Vec`.
public struct Word2VecConfiguration: Sendable {
    public var dimension = 32
    /// Largest distance to a context word; each centre draws its window from 1…window.
    public var window = 5
    /// Noise words per (centre, context) pair, drawn ∝ count^0.75.
    public var negatives = 5
    public var epochs = 5
    public var batchSize = 1024
    public var learningRate = 0.01
    public var seed: UInt64 = 0

    public init() {}
}

/// What `trainWord2Vec` returns.
public struct Word2VecResult {
    public let model: SkipGram
    public let corpus: KmerCorpus
    /// Mean loss per epoch.
    public let losses: [Double]
    public let pairsPerEpoch: Int

    /// The `count` words whose vectors have the largest cosine similarity with `word`'s.
    public func neighbours(of word: String, count: Int = 5) -> [(word: String, similarity: Double)] {
        guard let index = corpus.vocabulary.firstIndex(of: word) else { return [] }
        let vectors = model.vectors.scalars
        let d = model.vectors.shape[1]
        func norm(_ i: Int) -> Double { (0..<d).reduce(0.0) { $0 + Double(vectors[i * d + $1] * vectors[i * d + $1]) }.squareRoot() }
        let base = norm(index)
        var scored: [(String, Double)] = []
        for other in corpus.vocabulary.indices where other != index {
            let dot = (0..<d).reduce(0.0) { $0 + Double(vectors[index * d + $1] * vectors[other * d + $1]) }
            scored.append((corpus.vocabulary[other], dot / max(base * norm(other), 1e-12)))
        }
        return scored.sorted { $0.1 > $1.1 }.prefix(count).map { (word: $0.0, similarity: $0.1) }
    }

    /// A sequence's vector: the mean of its k-mers' vectors over all reading frames (zeros if none).
    public func sequenceVector(_ sentence: [[Int]]) -> [Float] {
        let d = model.vectors.shape[1]
        let vectors = model.vectors.scalars
        var sum = [Float](repeating: 0, count: d)
        let ids = sentence.joined()
        for id in ids { for j in 0..<d { sum[j] += vectors[id * d + j] } }
        return ids.isEmpty ? sum : sum.map { $0 / Float(ids.count) }
    }
}

/// Trains skip-gram with negative sampling on `corpus` with Adam, reproducibly from the seed.
public func trainWord2Vec(_ corpus: KmerCorpus, configuration c: Word2VecConfiguration,
                          progress: ((Int, Double) -> Void)? = nil) -> Word2VecResult {
    check(!corpus.vocabulary.isEmpty, "trainWord2Vec: the corpus has no words")
    let generator = Generator(seed: c.seed)
    return Generator.withDefault(generator) {
        let model = SkipGram(vocabulary: corpus.vocabulary.count, dimension: c.dimension)
        let optimizer = Adam(model.parameters(), learningRate: c.learningRate)
        // Noise distribution ∝ count^0.75, sampled by binary search in its cumulative sum.
        var cumulative: [Double] = []
        var total = 0.0
        for count in corpus.counts {
            total += pow(Double(count), 0.75)
            cumulative.append(total)
        }
        func noiseWord() -> Int {
            let u = generator.nextDouble() * total
            var (low, high) = (0, cumulative.count - 1)
            while low < high {
                let mid = (low + high) / 2
                if cumulative[mid] < u { low = mid + 1 } else { high = mid }
            }
            return low
        }
        var losses: [Double] = []
        var pairsPerEpoch = 0
        for epoch in 1...c.epochs {
            // (centre, context) pairs with word2vec's shrunken random windows, then shuffled.
            var pairs: [(Int, Int)] = []
            for sentence in corpus.sentences.joined() {
                for (i, centre) in sentence.enumerated() {
                    let reach = 1 + generator.nextInt(below: c.window)
                    for j in max(0, i - reach)...min(sentence.count - 1, i + reach) where j != i {
                        pairs.append((centre, sentence[j]))
                    }
                }
            }
            for i in stride(from: pairs.count - 1, to: 0, by: -1) { pairs.swapAt(i, generator.nextInt(below: i + 1)) }
            pairsPerEpoch = pairs.count
            var lossSum = 0.0
            for start in stride(from: 0, to: pairs.count, by: c.batchSize) {
                let batch = pairs[start..<min(start + c.batchSize, pairs.count)]
                let negatives = (0..<(batch.count * c.negatives)).map { _ in noiseWord() }
                let loss = model.loss(centers: IntTensor(batch.map(\.0)), contexts: IntTensor(batch.map(\.1)),
                                      negatives: IntTensor(negatives, shape: [batch.count, c.negatives]))
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                lossSum += Double(loss.item) * Double(batch.count)
            }
            let mean = lossSum / Double(max(pairs.count, 1))
            losses.append(mean)
            progress?(epoch, mean)
        }
        return Word2VecResult(model: model, corpus: corpus, losses: losses, pairsPerEpoch: pairsPerEpoch)
    }
}

/// How useful the vectors are for a downstream task: logistic regression on each sequence's mean
/// k-mer vector (standardized), trained on `train` rows and scored by ROC AUC on `test` rows.
public func linearProbeAUC(_ result: Word2VecResult, labels: [Int], train: [Int], test: [Int], seed: UInt64 = 0) -> Double? {
    let features = result.corpus.sentences.map(result.sequenceVector)
    let d = result.model.vectors.shape[1]
    var mean = [Float](repeating: 0, count: d), variance = [Float](repeating: 0, count: d)
    for row in train { for j in 0..<d { mean[j] += features[row][j] / Float(train.count) } }
    for row in train { for j in 0..<d { variance[j] += (features[row][j] - mean[j]) * (features[row][j] - mean[j]) / Float(train.count) } }
    func matrix(_ rows: [Int]) -> Tensor {
        Tensor(rows.flatMap { row in (0..<d).map { (features[row][$0] - mean[$0]) / max(variance[$0].squareRoot(), 1e-6) } },
               shape: [rows.count, d])
    }
    return Generator.withDefault(Generator(seed: seed)) {
        let probe = Linear(d, 1)
        let optimizer = Adam(probe.parameters(), learningRate: 0.05)
        let x = matrix(train)
        let y = Tensor(train.map { Float(labels[$0]) }, shape: [train.count, 1])
        for _ in 0..<300 {
            let loss = binaryCrossEntropyWithLogits(logits: probe(x), targets: y)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
        }
        let scores = noGrad { probe(matrix(test)) }.scalars
        return rocAUC(scores: scores, labels: test.map { labels[$0] })
    }
}
