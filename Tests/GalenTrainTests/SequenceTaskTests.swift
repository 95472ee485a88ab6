import Foundation
import Galen
import GalenData
@testable import GalenTrain
import Testing

// The bundled sequence tasks of `galen train` (mitbih-100, amp-peptides, esol), word2vec and the
// character language model, on the real bundled data.

private func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "galen-seq-\(UInt64.random(in: 0...UInt64.max))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite(.serialized) struct SequenceTasks {
    /// MIT-BIH 100 is split by time: every training beat precedes every validation beat, which
    /// precedes every test beat; classes are N and S; windows are centred and scaled.
    @Test func ecgBeatsAreSplitByTime() throws {
        let data = try PreparedData.load(TrainingConfiguration(data: "mitbih-100"))
        #expect(data.task == .binary)
        #expect(data.classNames == ["N", "S"])
        #expect(data.sequence == .signal(channels: 2, length: 252))
        let splits = [data.train, data.validation, data.test].map { $0.base as! BeatWindows }
        let samples = splits.map { split in split.rows.map { split.beats.beats[$0].sample } }
        #expect(samples[0].max()! < samples[1].min()! && samples[1].max()! < samples[2].min()!)
        #expect(splits.map(\.count).reduce(0, +) == 2270, "2273 beats, less 2 too close to the record's ends and the one V beat")
        let labels = try (0..<data.train.count).map { try data.train.example(at: $0).label!.scalars[0] }
        #expect(labels.filter { $0 == 1 }.count == 15)
        let window = try data.train.example(at: 0).input
        #expect(window.shape == [2, 252])
        #expect(abs(window.mean(axis: 1).max().item) < 1e-4)
    }

    @Test func peptidesAndSolubilityLoadAsTokenSequences() throws {
        let peptides = try PreparedData.load(TrainingConfiguration(data: "amp-peptides"))
        #expect(peptides.task == .binary && peptides.classNames == ["UniProt", "AMP"])
        #expect(peptides.train.count + peptides.validation.count + peptides.test.count == 5200)
        guard case .tokens(let vocabulary, let maxLength)? = peptides.sequence else { Issue.record("no token input"); return }
        #expect(vocabulary == 22 && maxLength >= 100)
        let solubility = try PreparedData.load(TrainingConfiguration(data: "esol"))
        #expect(solubility.task == .regression(outputs: 1))
        #expect(solubility.train.count + solubility.validation.count + solubility.test.count == 1128)
        let example = try solubility.train.example(at: 0)
        #expect(example.target != nil && example.input.rank == 1)
    }

    /// A short GRU run on ESOL writes a run folder with RMSE and R², and repeats bit for bit.
    @Test func solubilityRegressionRunsFromTheConfiguration() throws {
        var c = TrainingConfiguration(data: "esol")
        (c.model, c.epochs, c.batchSize, c.workers, c.bootstrap, c.gradientClip, c.bptt) = ("gru", 2, 64, 0, 50, 1, 20)
        let first = temporaryDirectory(), second = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: first); try? FileManager.default.removeItem(atPath: second) }
        let result = try TrainingRun(configuration: c, directory: first).execute()
        #expect(result.evaluation.metrics["rmse"] != nil && result.evaluation.metrics["r2"] != nil)
        try TrainingRun(configuration: c, directory: second).execute()
        #expect(try Data(contentsOf: URL(fileURLWithPath: first + "/metrics.json")) == Data(contentsOf: URL(fileURLWithPath: second + "/metrics.json")))
    }

    /// Balanced class weights are N / (K · n_k) of the training labels.
    @Test func balancedClassWeights() throws {
        var c = TrainingConfiguration(data: "mitbih-100")
        c.classWeights = "balanced"
        let data = try PreparedData.load(c)
        let weights = try TrainingRun(configuration: c, directory: "/nonexistent").balancedClassWeights(data).scalars
        let total = Float(data.train.count)
        #expect(abs(weights[1] - total / (2 * 15)) < 1e-3 && abs(weights[0] - total / (2 * (total - 15))) < 1e-4)
        c.classWeights = "inverse"
        #expect(throws: ConfigurationError.self) { try c.validate() }
    }

    /// ProtVec's reading frames: k shifted non-overlapping k-mer sentences per sequence.
    @Test func kmerCorpusReadsEveryFrame() {
        let corpus = KmerCorpus(sequences: ["ABCDEFG"], k: 3)
        let sentences = corpus.sentences[0].map { $0.map { corpus.vocabulary[$0] } }
        #expect(sentences == [["ABC", "DEF"], ["BCD", "EFG"], ["CDE"]])
    }

    /// word2vec on the peptides lowers its loss, repeats from the seed and gives vectors that
    /// separate antimicrobial peptides from random UniProt ones better than chance.
    @Test func word2vecLearnsUsefulVectors() throws {
        let (sequences, labels) = try BundledCorpus.peptides()
        let rows = Array(sequences.indices).filter { $0 % 4 == 0 }
        let corpus = KmerCorpus(sequences: rows.map { sequences[$0] }, k: 3, minCount: 2)
        var c = Word2VecConfiguration()
        (c.epochs, c.dimension) = (2, 16)
        let result = trainWord2Vec(corpus, configuration: c)
        #expect(result.losses[1] < result.losses[0])
        #expect(trainWord2Vec(corpus, configuration: c).model.vectors.scalars == result.model.vectors.scalars)
        let split = DataSplit.stratified(labels: rows.map { labels[$0] }, validation: 0, test: 0.3, seed: 0)
        let auc = try #require(linearProbeAUC(result, labels: rows.map { labels[$0] }, train: split.train, test: split.test))
        #expect(auc > 0.7, "linear probe AUC \(auc)")
    }

    /// One epoch of each language-model objective beats the unigram baseline on held-out peptides.
    @Test(arguments: LanguageModelObjective.allCases)
    func languageModelsBeatTheUnigramBaseline(_ objective: LanguageModelObjective) throws {
        let texts = try BundledCorpus.peptides().sequences
        // The file lists the antimicrobial peptides first: interleaved rows keep both kinds on both sides.
        let train = CharacterCorpus(texts: texts.indices.filter { $0 % 2 == 0 }.map { texts[$0] })
        let held = CharacterCorpus(texts: texts.indices.filter { $0 % 10 == 1 }.map { texts[$0] }, vocabulary: train.vocabulary)
        var c = LanguageModelConfiguration()
        (c.objective, c.epochs, c.contextLength, c.dimension, c.batchSize) = (objective, 2, 48, 32, 32)
        let training = LanguageModelTraining(train: train, validation: held, configuration: c)
        training.run()
        let last = try #require(training.history.last)
        #expect(last.validationLoss < training.unigramBaselineLoss, "\(objective): \(last.validationLoss) vs baseline \(training.unigramBaselineLoss)")
        if objective == .causal {
            let samples = training.samples(count: 2, temperature: 0.8, seed: 1)
            #expect(samples == training.samples(count: 2, temperature: 0.8, seed: 1))
            #expect(samples.allSatisfy { $0.allSatisfy { train.vocabulary.characters.contains($0) } })
        }
    }
}
