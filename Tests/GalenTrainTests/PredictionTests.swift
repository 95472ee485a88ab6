import Foundation
import Galen
import GalenData
import GalenNN
@testable import GalenTrain
import Testing

@Suite struct Prediction {
    /// A PneumoniaMNIST test image written as an 8-bit PNG and read back by the predictor gets the
    /// probabilities the model gives the same image from the .npz: the predictor prepares files
    /// exactly as training prepared the data.
    @Test func aPNGOfADatasetImageGetsTheDatasetsProbabilities() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let test = try MedMNISTSplit(contentsOf: root.appendingPathComponent("Data/medmnist/pneumoniamnist.npz").path, split: .test)
        let model = try Generator.withDefault(Generator(seed: 1)) {
            try ModelZoo.make(name: "lenet", inChannels: 1, classes: 2)
        }
        model.eval()
        let folder = NSTemporaryDirectory() + "galen-predict-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let predictor = Predictor(model: model, task: .binary, channels: 1)
        let pixels = test.rawImages.bytes   // uint8, C order [N, 28, 28]
        for index in [0, 17, 300] {
            let path = folder + "/image\(index).png"
            let image = PNGImage(width: 28, height: 28, channels: 1, bitDepth: 8,
                                 samples: pixels[(index * 784)..<((index + 1) * 784)].map(UInt16.init))
            try PNG.write(image, path: path)
            let fromFile = try predictor.predict(file: path)
            #expect(fromFile.count == 1)
            let fromDataset = noGrad { softmax(model(test.images.narrow(axis: 0, start: index, length: 1)), axis: 1).scalars }
            let difference = zip(fromFile[0].probabilities, fromDataset).map { abs($0 - $1) }.max()!
            #expect(difference < 1e-6, "image \(index): \(fromFile[0].probabilities) vs \(fromDataset)")
        }
    }

    @Test func aFileThatIsNoImageIsAnErrorNamingIt() {
        let predictor = Predictor(model: MLP(inputs: 784, hidden: [], classes: 2), task: .binary, channels: 1)
        #expect(throws: DataFormatError.self) { try predictor.predict(file: #filePath) }
    }
}
