import ArgumentParser
import Foundation
import Galen
import GalenData
import GalenNN
import GalenOptim

/// Trains a small MLP on the bundled Breast Cancer Wisconsin table: the end-to-end check that the
/// tensor core, the layers and the optimizers train a real model.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an MLP on the Breast Cancer Wisconsin data and print the test accuracy.")

    @Option(help: "CSV in scikit-learn's layout: a count line, then features and a 0/1 target per row.")
    var data = "Data/tabular/breast_cancer.csv"

    @Option(help: "Passes over the training set.")
    var epochs = 30

    @Option(help: "Hidden units.")
    var hidden = 32

    @Option(help: "Samples per gradient step.")
    var batchSize = 32

    @Option(help: "Adam learning rate.")
    var lr: Double = 1e-3

    @Option(help: "Fraction of patients held out for testing.")
    var testFraction: Float = 0.2

    @Option(help: "Seed for the split, the initial weights and the shuffling.")
    var seed: UInt64 = 0

    @Option(help: "Threads for kernels and BLAS (default: all cores).")
    var threads: Int?

    func validate() throws {
        guard epochs > 0 else { throw ValidationError("--epochs must be positive, got \(epochs)") }
        guard hidden > 0 else { throw ValidationError("--hidden must be positive, got \(hidden)") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        guard lr > 0 else { throw ValidationError("--lr must be positive, got \(lr)") }
        guard testFraction > 0 && testFraction < 1 else {
            throw ValidationError("--test-fraction must be between 0 and 1, got \(testFraction)")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        if let threads { Threads.count = threads }
        let table = try SklearnTable(contentsOf: data)
        let generator = Generator(seed: seed)
        let order = generator.permutation(table.count)
        let testCount = Int((Float(table.count) * testFraction).rounded())
        let test = table.rows(Array(order[..<testCount]))
        let train = table.rows(Array(order[testCount...]))
        print("data: \(data): \(table.count) patients, \(table.featureCount) features; train \(train.count), test \(test.count)")

        // Standardize with the training split's statistics only: the test set stays unseen.
        let mean = train.features.mean(axis: 0, keepDims: true)
        let std = train.features.variance(axis: 0, correction: 0, keepDims: true).sqrt() + 1e-6
        let trainX = (train.features - mean) / std
        let testX = (test.features - mean) / std

        manualSeed(seed)
        let model = MLP(inputs: table.featureCount, hidden: [hidden], classes: 2)
        let optimizer = Adam(model.parameters(), learningRate: lr)
        let start = Date()
        for epoch in 1...epochs {
            model.train()
            var total: Float = 0
            let shuffled = generator.permutation(train.count)
            for batchStart in stride(from: 0, to: train.count, by: batchSize) {
                let rows = IntTensor(Array(shuffled[batchStart..<min(batchStart + batchSize, train.count)]))
                let x = trainX.indexSelect(axis: 0, index: rows)
                let y = IntTensor(rows.scalars.map { train.labels.scalars[$0] })
                let loss = crossEntropy(logits: model(x), labels: y)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                total += loss.item * Float(rows.count)
            }
            if epoch == 1 || epoch % 10 == 0 || epoch == epochs {
                let line = String(format: "epoch %3d  train loss %.4f", epoch, total / Float(train.count))
                print(line)
            }
        }
        model.eval()
        let seconds = Date().timeIntervalSince(start)
        let predictions = noGrad { model(testX) }.argmax(axis: 1).scalars
        let correct = zip(predictions, test.labels.scalars).filter { $0 == $1 }.count
        let accuracy = Double(correct) / Double(test.count)
        print(String(format: "test accuracy: %.4f (%d/%d)  trained in %.2f s", accuracy, correct, test.count, seconds))
    }
}
