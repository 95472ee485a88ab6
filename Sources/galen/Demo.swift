import ArgumentParser
import Foundation
import Galen

/// Trains a small MLP on the bundled Breast Cancer Wisconsin table with nothing but the core
/// tensor library: the end-to-end check that autodiff, BLAS and the kernels train a real model.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an MLP on the Breast Cancer Wisconsin data and print the test accuracy.")

    @Option(help: "CSV in scikit-learn's layout: a count line, then features and a 0/1 target per row.")
    var data = "Data/tabular/breast_cancer.csv"

    @Option(help: "Passes over the training set.")
    var epochs = 60

    @Option(help: "Hidden units.")
    var hidden = 32

    @Option(help: "Samples per gradient step.")
    var batchSize = 32

    @Option(help: "SGD learning rate.")
    var lr: Float = 0.05

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
        let table = try TabularData.load(csv: data)
        let generator = Generator(seed: seed)
        let order = generator.permutation(table.count)
        let testCount = Int((Float(table.count) * testFraction).rounded())
        let (train, test) = table.split(testRows: Array(order[..<testCount]), trainRows: Array(order[testCount...]))
        print("data: \(data): \(table.count) patients, \(table.featureCount) features; train \(train.count), test \(test.count)")

        // Standardize with the training split's statistics only: the test set stays unseen.
        let mean = train.features.mean(axis: 0, keepDims: true)
        let std = train.features.variance(axis: 0, correction: 0, keepDims: true).sqrt() + 1e-6
        let trainX = (train.features - mean) / std
        let testX = (test.features - mean) / std

        let model = TwoLayerPerceptron(inputs: table.featureCount, hidden: hidden, classes: 2, generator: generator)
        let start = Date()
        for epoch in 1...epochs {
            var total: Float = 0
            let shuffled = generator.permutation(train.count)
            for batchStart in stride(from: 0, to: train.count, by: batchSize) {
                let rows = IntTensor(Array(shuffled[batchStart..<min(batchStart + batchSize, train.count)]))
                let x = trainX.indexSelect(axis: 0, index: rows)
                let y = IntTensor(rows.scalars.map { train.labels.scalars[$0] }, shape: [rows.count, 1])
                let loss = -logSoftmax(model(x), axis: 1).gather(axis: 1, index: y).mean()
                model.zeroGrad()
                loss.backward()
                model.step(learningRate: lr, momentum: 0.9)
                total += loss.item * Float(rows.count)
            }
            if epoch == 1 || epoch % 10 == 0 || epoch == epochs {
                let line = String(format: "epoch %3d  train loss %.4f", epoch, total / Float(train.count))
                print(line)
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let predictions = noGrad { model(testX) }.argmax(axis: 1).scalars
        let correct = zip(predictions, test.labels.scalars).filter { $0 == $1 }.count
        let accuracy = Double(correct) / Double(test.count)
        print(String(format: "test accuracy: %.4f (%d/%d)  trained in %.2f s", accuracy, correct, test.count, seconds))
    }
}

/// A problem with an input file; the message names the file and the place.
struct DataError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A feature matrix with integer class labels.
struct TabularData {
    let features: Tensor
    let labels: IntTensor
    var count: Int { labels.count }
    var featureCount: Int { features.shape[1] }

    /// Reads scikit-learn's bundled-CSV layout: "rows,features,class names…", then rows of
    /// features followed by an integer target.
    static func load(csv path: String) throws -> TabularData {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DataError("\(path): cannot read the file (does it exist?)")
        }
        var lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard !lines.isEmpty else { throw DataError("\(path): the file is empty") }
        let header = lines.removeFirst().split(separator: ",")
        guard header.count >= 2, let rowCount = Int(header[0]), let featureCount = Int(header[1]) else {
            throw DataError("\(path): line 1 should start with the row and feature counts")
        }
        guard lines.count == rowCount else {
            throw DataError("\(path): line 1 announces \(rowCount) rows but the file has \(lines.count)")
        }
        var values: [Float] = []
        values.reserveCapacity(rowCount * featureCount)
        var labels: [Int] = []
        for (i, line) in lines.enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == featureCount + 1 else {
                throw DataError("\(path): line \(i + 2) has \(fields.count) fields, expected \(featureCount + 1)")
            }
            for (column, field) in fields.dropLast().enumerated() {
                guard let value = Float(field) else {
                    throw DataError("\(path): line \(i + 2), column \(column + 1): '\(field)' is not a number")
                }
                values.append(value)
            }
            guard let label = Int(fields.last!) else {
                throw DataError("\(path): line \(i + 2): target '\(fields.last!)' is not an integer class")
            }
            labels.append(label)
        }
        return TabularData(features: Tensor(values, shape: [rowCount, featureCount]), labels: IntTensor(labels))
    }

    func split(testRows: [Int], trainRows: [Int]) -> (train: TabularData, test: TabularData) {
        func subset(_ rows: [Int]) -> TabularData {
            TabularData(
                features: features.indexSelect(axis: 0, index: IntTensor(rows)),
                labels: IntTensor(rows.map { labels.scalars[$0] }))
        }
        return (subset(trainRows), subset(testRows))
    }
}

/// inputs → hidden (ReLU) → classes, initialized like PyTorch's nn.Linear, trained with SGD
/// with momentum. (Layers and optimizers proper live in GalenNN and GalenOptim.)
final class TwoLayerPerceptron {
    let w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor
    private var velocity: [Tensor]

    init(inputs: Int, hidden: Int, classes: Int, generator: Generator) {
        func uniform(_ shape: [Int], fanIn: Int) -> Tensor {
            let bound = 1 / Float(fanIn).squareRoot()
            return Tensor.uniform(shape, low: -bound, high: bound, generator: generator).requiringGrad()
        }
        w1 = uniform([hidden, inputs], fanIn: inputs)
        b1 = uniform([hidden], fanIn: inputs)
        w2 = uniform([classes, hidden], fanIn: hidden)
        b2 = uniform([classes], fanIn: hidden)
        velocity = [w1, b1, w2, b2].map { Tensor.zeros(like: $0) }
    }

    var parameters: [Tensor] { [w1, b1, w2, b2] }

    func callAsFunction(_ x: Tensor) -> Tensor {
        relu(x.matmul(w1.transposed()) + b1).matmul(w2.transposed()) + b2
    }

    func zeroGrad() { parameters.forEach { $0.zeroGrad() } }

    /// v ← momentum·v + g;  p ← p − lr·v  (PyTorch's SGD with momentum, no dampening).
    func step(learningRate: Float, momentum: Float) {
        for (p, v) in zip(parameters, velocity) {
            guard let g = p.grad?.scalars else { continue }
            for i in 0..<p.count {
                v.storage.pointer[i] = momentum * v.storage.pointer[i] + g[i]
                p.storage.pointer[i] -= learningRate * v.storage.pointer[i]
            }
        }
    }
}
