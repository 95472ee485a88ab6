import Foundation
import Galen
import GalenNN
import Testing

// The model zoo against PyTorch (fixtures from Scripts/fixtures/model_cases.py): small-width twins
// of each model load PyTorch's weights strictly and reproduce its outputs, gradients and running
// statistics; the full-size models have PyTorch's state-dict keys and shapes; and a checkpoint
// Galen writes is byte-stable (the script checks that PyTorch loads it with strict=True).

private let modelFixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    .appendingPathComponent("models")

private func fixture(_ name: String) throws -> SafeTensors {
    try SafeTensors(contentsOf: modelFixtures.appendingPathComponent("\(name).safetensors"))
}

/// The Galen twin of a fixture's reference module, built from the configuration in its metadata.
private func makeModel(_ name: String, _ config: [String: String]) throws -> any Layer {
    func int(_ key: String) throws -> Int {
        guard let value = config[key].flatMap({ Int($0) }) else {
            throw DataFormatError(source: "\(name).safetensors", message: "metadata has no integer \(key)")
        }
        return value
    }
    switch name {
    case "mlp":
        let hidden = (config["hidden"] ?? "").split(separator: ",").compactMap { Int($0) }
        return MLP(inputs: try int("inputs"), hidden: hidden, classes: try int("classes"), batchNorm: try int("batch_norm") == 1)
    case "lenet": return LeNet5(inChannels: try int("in_channels"), classes: try int("classes"), inputSize: try int("input_size"))
    case "resnet18_28": return resnet18_28(inChannels: try int("in_channels"), classes: try int("classes"), baseWidth: try int("base_width"))
    case "resnet50_28": return resnet50_28(inChannels: try int("in_channels"), classes: try int("classes"), baseWidth: try int("base_width"))
    case "resnet18": return resnet18(inChannels: try int("in_channels"), classes: try int("classes"), baseWidth: try int("base_width"))
    case "resnet50": return resnet50(inChannels: try int("in_channels"), classes: try int("classes"), baseWidth: try int("base_width"))
    case "unet", "unet_bilinear":
        return UNet(inChannels: try int("in_channels"), classes: try int("classes"), depth: try int("depth"),
                    baseWidth: try int("base_width"), bilinear: try int("bilinear") == 1)
    case "vit":
        return VisionTransformer(imageSize: try int("image_size"), patchSize: try int("patch_size"), inChannels: try int("in_channels"),
                                 classes: try int("classes"), dim: try int("dim"), depth: try int("depth"), heads: try int("heads"),
                                 mlpDim: try int("mlp_dim"))
    default: throw DataFormatError(source: name, message: "no Galen model for this fixture")
    }
}

/// The entries of `file` whose names start with `prefix`, keyed by the rest of the name.
private func entries(_ file: SafeTensors, prefix: String) throws -> [String: Tensor] {
    var result: [String: Tensor] = [:]
    for name in file.names where name.hasPrefix(prefix) {
        result[String(name.dropFirst(prefix.count))] = try file.floatTensor(named: name)
    }
    return result
}

/// Elementwise |actual − expected| ≤ 1e-4·|expected| + tolerance·scale, where scale is the
/// tensor's largest magnitude (at least 0.1): float32 rounding of sums across a whole network is
/// relative to the size of the terms, not of each result. Returns the largest error over scale.
@discardableResult
private func expectClose(
    _ actual: Tensor, _ expected: Tensor, _ what: String, tolerance: Float,
    sourceLocation: SourceLocation = #_sourceLocation
) -> Float {
    #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape), expected \(expected.shape)",
            sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return .infinity }
    let (a, e) = (actual.scalars, expected.scalars)
    let scale = max(e.map(abs).max() ?? 0, 0.1)
    var worst: (error: Float, index: Int) = (0, 0)
    var failures = 0
    for i in e.indices {
        let error = abs(a[i] - e[i])
        if !(error <= 1e-4 * abs(e[i]) + tolerance * scale) { failures += 1 }
        if !(error <= worst.error) { worst = (error, i) }
    }
    #expect(failures == 0, """
        \(what): \(failures) of \(e.count) elements differ; worst at \(worst.index): \
        \(a[worst.index]) vs \(e[worst.index])
        """, sourceLocation: sourceLocation)
    return worst.error / scale
}

private let smallCases = ["mlp", "lenet", "resnet18_28", "resnet50_28", "resnet18", "resnet50", "unet", "unet_bilinear", "vit"]

@Suite struct ModelZooParity {
    /// PyTorch's initial weights load strictly; eval and train outputs, the loss, every parameter
    /// gradient and every buffer after the train-mode forward match the float64 reference.
    @Test(arguments: smallCases)
    func matchesPyTorch(_ name: String) throws {
        let file = try fixture(name)
        let model = try makeModel(name, file.metadata)
        try model.load(stateDict: try entries(file, prefix: "state."), strict: true)
        let input = try file.floatTensor(named: "input")
        // 1e-4 of each tensor's scale, or 4× what PyTorch's own float32 run reaches on this case if
        // that is more: the deep bottleneck networks' train-mode batch norms over few values per
        // channel amplify rounding (PyTorch itself is 9e-5 and 2e-4 off there). A percent-level
        // gradient mismatch spread over a whole model whose outputs match is most likely float32
        // rounding carrying a ReLU input across 0 (see KinkMargins in model_cases.py), not a bug.
        let torchError = file.metadata["torch_float32_error"].flatMap { Float($0) } ?? 0
        let tolerance = max(1e-4, 4 * torchError)
        var worst: [String: Float] = [:]
        func compare(_ actual: Tensor, _ expected: Tensor, _ what: String) -> Float {
            expectClose(actual, expected, "\(name) \(what)", tolerance: tolerance)
        }

        model.eval()
        let outputEval = noGrad { model(input) }
        worst["eval"] = compare(outputEval, try file.floatTensor(named: "output_eval"), "eval output")

        model.train()
        let output = model(input)
        worst["train"] = compare(output, try file.floatTensor(named: "output_train"), "train output")
        let loss = (output * (try file.floatTensor(named: "upstream"))).sum()
        worst["loss"] = compare(loss, try file.floatTensor(named: "loss"), "loss")
        loss.backward()

        let gradients = try entries(file, prefix: "grad.")
        let parameters = model.namedParameters()
        #expect(Set(parameters.map(\.0)) == Set(gradients.keys), "\(name): parameters differ from PyTorch's")
        for (key, parameter) in parameters {
            guard let expected = gradients[key] else { continue }
            guard let gradient = parameter.grad else {
                Issue.record("\(name): \(key) has no gradient")
                continue
            }
            worst["grad"] = max(worst["grad"] ?? 0, compare(gradient, expected, "gradient of \(key)"))
        }

        let buffers = try entries(file, prefix: "after.")
        #expect(Set(model.namedBuffers().map(\.0)) == Set(buffers.keys), "\(name): buffers differ from PyTorch's")
        for (key, buffer) in model.namedBuffers() {
            guard let expected = buffers[key] else { continue }
            worst["buffers"] = max(worst["buffers"] ?? 0, compare(buffer.value, expected, "buffer \(key)"))
        }
        print("ModelZooParity \(name): largest error / scale", worst.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" },
              "(PyTorch float32: \(torchError), tolerance \(tolerance))")
    }
}

@Suite struct ModelZooArchitectures {
    struct FullModel: Decodable {
        let inChannels: Int
        let classes: Int
        let parameters: Int
        let keys: [Key]

        /// A ["name", [shape]] pair.
        struct Key: Decodable {
            let name: String
            let shape: [Int]

            init(from decoder: Decoder) throws {
                var pair = try decoder.unkeyedContainer()
                name = try pair.decode(String.self)
                shape = try pair.decode([Int].self)
            }
        }
    }

    struct FullModels: Decodable { let models: [String: FullModel] }

    static let full: [String: FullModel] = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let data = try! Data(contentsOf: modelFixtures.appendingPathComponent("models_full.json"))
        return try! decoder.decode(FullModels.self, from: data).models
    }()

    @Test func fixturesCoverTheZoo() {
        #expect(Set(Self.full.keys) == Set(ModelZoo.names))
    }

    /// The full-size zoo models have PyTorch's keys, in state-dict order, with the same shapes and
    /// parameter count.
    @Test(arguments: ModelZoo.names)
    func fullSizeKeysMatchPyTorch(_ name: String) throws {
        let reference = try #require(Self.full[name])
        let model = try ModelZoo.make(name: name, inChannels: reference.inChannels, classes: reference.classes)
        let keys = model.stateDict().map { "\($0.key) \($0.value.shape)" }
        let expected = reference.keys.map { "\($0.name) \($0.shape)" }
        let firstDifference = zip(keys, expected).first { $0 != $1 }
        #expect(keys == expected, "\(name): \(keys.count) keys, PyTorch \(expected.count); first difference \(String(describing: firstDifference))")
        #expect(model.parameterCount() == reference.parameters)
    }

    @Test func unknownNameListsTheValidOnes() {
        #expect {
            try ModelZoo.make(name: "resnet19", inChannels: 1, classes: 2)
        } throws: { error in
            let text = String(describing: error)
            return text.contains("resnet19") && ModelZoo.names.allSatisfy { text.contains($0) }
        }
        #expect(throws: ModelZooError.self) { try ModelZoo.make(name: "unet", inChannels: 0, classes: 2) }
    }

    @Test func zooModelsRunOnSmallInputs() throws {
        // Shapes only; the parity tests check the numbers. Reduced widths keep debug builds fast.
        let image = Tensor.uniform([2, 3, 28, 28], low: -1, high: 1, generator: Generator(seed: 1))
        let mlp = try ModelZoo.make(name: "mlp", inChannels: 3, classes: 4)
        #expect(mlp(image).shape == [2, 4])
        let lenet = try ModelZoo.make(name: "lenet", inChannels: 3, classes: 4)
        #expect(lenet(image).shape == [2, 4])
        #expect(LeNet5(classes: 3, inputSize: 32)(Tensor.zeros([1, 1, 32, 32])).shape == [1, 3])
        #expect(resnet50_28(inChannels: 3, classes: 4, baseWidth: 2)(image).shape == [2, 4])
        #expect(resnet18(inChannels: 3, classes: 4, baseWidth: 4)(image).shape == [2, 4])
        let unet = UNet(inChannels: 3, classes: 5, depth: 2, baseWidth: 4)
        #expect(unet(Tensor.zeros([1, 3, 30, 22])).shape == [1, 5, 30, 22])
        let mlpWithDropout = MLP(inputs: 12, hidden: [8], classes: 2, dropout: 0.5, batchNorm: true)
        #expect(mlpWithDropout.stateDict().map(\.key) == [
            "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.1.running_mean",
            "layers.1.running_var", "layers.1.num_batches_tracked", "layers.4.weight", "layers.4.bias",
        ])
    }
}

@Suite struct ModelZooCheckpoints {
    /// The PyTorch weights of a small model, for the error tests.
    static func referenceState() throws -> [String: Tensor] { try entries(fixture("resnet18_28"), prefix: "state.") }

    static func referenceModel() -> ResNet28 { resnet18_28(inChannels: 3, classes: 9, baseWidth: 8) }

    @Test func missingKeyIsNamed() throws {
        var state = try Self.referenceState()
        state["layer2.0.shortcut.1.running_var"] = nil
        #expect(throws: StateDictError.missingKeys(["layer2.0.shortcut.1.running_var"])) {
            try Self.referenceModel().load(stateDict: state, strict: true)
        }
        // Not strict: the other keys load.
        try Self.referenceModel().load(stateDict: state, strict: false)
    }

    @Test func unexpectedKeyIsNamed() throws {
        var state = try Self.referenceState()
        state["layer1.0.downsample.0.weight"] = Tensor.zeros([8, 8, 1, 1])
        #expect(throws: StateDictError.unexpectedKeys(["layer1.0.downsample.0.weight"])) {
            try Self.referenceModel().load(stateDict: state, strict: true)
        }
    }

    @Test func misShapedKeyIsNamed() throws {
        var state = try Self.referenceState()
        state["linear.weight"] = Tensor.zeros([10, 64])
        let model = Self.referenceModel()
        #expect(throws: StateDictError.shapeMismatch(key: "linear.weight", expected: [9, 64], found: [10, 64])) {
            try model.load(stateDict: state, strict: true)
        }
        #expect(String(describing: StateDictError.shapeMismatch(key: "linear.weight", expected: [9, 64], found: [10, 64]))
            .contains("linear.weight"))
    }

    static let galenWritten = "galen_resnet18_28.safetensors"

    /// A ResNet-18 (28) of base width 4 with deterministic values (not the initializers', which
    /// draw from the shared default generator), written the way a checkpoint is: every state-dict
    /// entry, counters as int64.
    static func galenCheckpoint() -> (model: ResNet28, file: SafeTensors) {
        let model = resnet18_28(inChannels: 3, classes: 9, baseWidth: 4)
        let generator = Generator(seed: 20261128)
        let types = model.stateStoredTypes()
        var file = SafeTensors(metadata: ["format": "pt"])
        noGrad {
            for (key, value) in model.stateDict() {
                if types[key] == .int64 {
                    value.assign(Tensor(scalar: 3))
                    file[key] = SafeTensor(IntTensor(value.scalars.map { Int($0) }, shape: value.shape), dtype: .i64)
                } else {
                    let positive = key.hasSuffix("running_var")
                    value.assign(Tensor.uniform(value.shape, low: positive ? 0.5 : -1, high: positive ? 1.5 : 1, generator: generator))
                    file[key] = SafeTensor(value)
                }
            }
        }
        return (model, file)
    }

    /// The committed Galen-written checkpoint is what Galen writes today (the fixture script checks
    /// that it loads into PyTorch with strict=True). After a deliberate change, regenerate it with
    /// GALEN_REGENERATE_FIXTURES=1 and rerun Scripts/make_fixtures.sh.
    @Test func galenWrittenCheckpointIsStable() throws {
        let (model, file) = Self.galenCheckpoint()
        let bytes = file.serialized()
        if ProcessInfo.processInfo.environment["GALEN_REGENERATE_FIXTURES"] == "1" {
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("Fixtures/models/\(Self.galenWritten)")
            try file.write(to: source)
        } else {
            let committed = try Data(contentsOf: modelFixtures.appendingPathComponent(Self.galenWritten))
            #expect(bytes == committed, "\(Self.galenWritten) differs from what Galen writes now")
        }

        // Written to disk and read back, it loads strictly into a fresh model with equal values.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("galen-model-zoo-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("checkpoint.safetensors")
        try file.write(to: path)
        #expect(try Data(contentsOf: path) == bytes)
        let readBack = try SafeTensors(contentsOf: path)
        #expect(readBack["bn1.num_batches_tracked"]?.dtype == .i64)
        let fresh = resnet18_28(inChannels: 3, classes: 9, baseWidth: 4)
        try fresh.load(stateDict: Dictionary(uniqueKeysWithValues: try readBack.names.map { ($0, try readBack.floatTensor(named: $0)) }))
        for ((key, expected), (_, actual)) in zip(model.stateDict(), fresh.stateDict()) {
            #expect(actual.scalars == expected.scalars, "\(key) changed in the round trip")
        }
    }
}
