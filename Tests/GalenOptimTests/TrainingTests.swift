import Foundation
import Galen
import GalenData
import GalenNN
import GalenOptim
import Testing

/// The repository's Data/ folder, found from this file's location.
let repositoryData = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Data")

@Suite struct TrainingWorks {
    /// An MLP trained with Adam on the bundled Breast Cancer Wisconsin data reaches ≥ 96% test
    /// accuracy on a held-out 20% (seeded split, standardization fitted on the training rows).
    @Test func mlpReachesNinetySixPercentOnBreastCancerWisconsin() throws {
        let table = try SklearnTable(contentsOf: repositoryData.appendingPathComponent("tabular/breast_cancer.csv").path)
        #expect(table.count == 569 && table.featureCount == 30)
        let generator = Generator(seed: 0)
        let order = generator.permutation(table.count)
        let test = table.rows(Array(order[..<114]))
        let train = table.rows(Array(order[114...]))
        let mean = train.features.mean(axis: 0, keepDims: true)
        let std = train.features.variance(axis: 0, correction: 0, keepDims: true).sqrt() + 1e-6
        let trainX = (train.features - mean) / std
        let testX = (test.features - mean) / std

        manualSeed(0)
        let model = MLP(inputs: 30, hidden: [32], classes: 2)
        let optimizer = Adam(model.parameters(), learningRate: 1e-3)
        for _ in 0..<30 {
            let shuffled = generator.permutation(train.count)
            for start in stride(from: 0, to: train.count, by: 32) {
                let rows = Array(shuffled[start..<min(start + 32, train.count)])
                let loss = crossEntropy(
                    logits: model(trainX.indexSelect(axis: 0, index: IntTensor(rows))),
                    labels: IntTensor(rows.map { train.labels.scalars[$0] }))
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
            }
        }
        model.eval()
        let predicted = noGrad { model(testX) }.argmax(axis: 1).scalars
        let accuracy = Double(zip(predicted, test.labels.scalars).filter { $0 == $1 }.count) / Double(test.count)
        #expect(accuracy >= 0.96, "test accuracy \(accuracy)")
    }
}
