// Trains a model-zoo classifier on a MedMNIST .npz file and reports validation and test AUC/ACC
// (MedMNIST's definitions) — the example run behind the issue-3 results in docs/results.md.
//
//   swift run -c release -Xswiftc -target-cpu -Xswiftc haswell -Xswiftc -DGALEN_FMA medmnist-example \
//       Data/medmnist/pneumoniamnist.npz lenet 10
//
// Arguments: file, model name (ModelZoo.names), epochs, [batch size 128], [learning rate 1e-3], [seed 0].
// The recipe is the MedMNIST v2 paper's: Adam, MultiStepLR ×0.1 at 50% and 75% of the epochs,
// cross-entropy; the weights with the best validation AUC are evaluated on the test split.
import Foundation
import Galen
import GalenData
import GalenMetrics
import GalenNN
import GalenOptim

let arguments = CommandLine.arguments
guard arguments.count >= 4, let epochs = Int(arguments[3]), epochs > 0 else {
    FileHandle.standardError.write(Data("usage: medmnist-example FILE.npz MODEL EPOCHS [BATCH] [LR] [SEED]\n".utf8))
    exit(2)
}
let batchSize = arguments.count > 4 ? Int(arguments[4]) ?? 128 : 128
let learningRate = arguments.count > 5 ? Double(arguments[5]) ?? 1e-3 : 1e-3
let seed = arguments.count > 6 ? UInt64(arguments[6]) ?? 0 : 0

do {
    let data = try MedMNIST(contentsOf: arguments[1])
    let train = data.train, validation = data.validation, test = data.test
    let classes = (train.labels.scalars.max() ?? 1) + 1
    print("\(arguments[1]): train \(train.count), val \(validation.count), test \(test.count), \(train.channels) channel(s), \(classes) classes")
    manualSeed(seed)
    let generator = Generator(seed: seed)
    let model = try ModelZoo.make(name: arguments[2], inChannels: train.channels, classes: classes)
    print("model \(arguments[2]): \(model.parameterCount()) parameters")
    let optimizer = Adam(model.parameters(), learningRate: learningRate)
    let schedule = MultiStepLR(optimizer: optimizer, milestones: [epochs / 2, epochs * 3 / 4], gamma: 0.1)

    func evaluate(_ split: MedMNISTSplit) -> (auc: Double, accuracy: Double) {
        model.eval()
        var probabilities: [[Float]] = []
        noGrad {
            for start in stride(from: 0, to: split.count, by: 256) {
                let rows = IntTensor(Array(start..<min(start + 256, split.count)))
                let p = softmax(model(split.images.indexSelect(axis: 0, index: rows)), axis: 1).scalars
                for r in 0..<rows.count { probabilities.append(Array(p[(r * classes)..<((r + 1) * classes)])) }
            }
        }
        let labels = split.labels.scalars
        let predicted = probabilities.map { row in row.indices.max { row[$0] < row[$1] }! }
        let accuracy = Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)
        let task: AUCTask = classes == 2 ? .binary : .multiClass(classes: classes)
        let auc = medMNISTAUC(probabilities: probabilities, labels: labels.map { [$0] }, task: task) ?? .nan
        return (auc, accuracy)
    }

    var best: (auc: Double, epoch: Int, state: [String: Tensor]) = (-1, 0, [:])
    let start = Date()
    for epoch in 1...epochs {
        model.train()
        var total: Float = 0
        let order = generator.permutation(train.count)
        for batchStart in stride(from: 0, to: train.count, by: batchSize) {
            let rows = Array(order[batchStart..<min(batchStart + batchSize, train.count)])
            let x = train.images.indexSelect(axis: 0, index: IntTensor(rows))
            let y = IntTensor(rows.map { train.labels.scalars[$0] })
            let loss = crossEntropy(logits: model(x), labels: y)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
            total += loss.item * Float(rows.count)
        }
        schedule.step()
        let (auc, accuracy) = evaluate(validation)
        if auc > best.auc {
            best = (auc, epoch, Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.key, $0.value.copy()) }))
        }
        print(String(format: "epoch %3d  loss %.4f  val AUC %.4f ACC %.4f  (%.0f s)", epoch, total / Float(train.count), auc, accuracy, Date().timeIntervalSince(start)))
    }
    try model.load(stateDict: best.state)
    let (auc, accuracy) = evaluate(test)
    print(String(format: "test AUC %.4f  ACC %.4f  (best validation AUC %.4f at epoch %d; %.0f s in all)", auc, accuracy, best.auc, best.epoch, Date().timeIntervalSince(start)))
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
