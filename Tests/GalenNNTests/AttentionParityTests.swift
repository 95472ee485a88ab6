import Foundation
import Galen
import GalenNN
import Testing

// Attention and transformer layers against PyTorch (fixtures from
// Scripts/fixtures/attention_cases.py): each case loads PyTorch's state dict strictly, replays the
// call and compares outputs and the gradients of every parameter, input and additive mask with
// the float64 reference. Then finite differences for sdpa and additive attention (no PyTorch
// involved), dropout in training mode, and the small Vision Transformer.

private let attentionFixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    .appendingPathComponent("attention")

private let attentionCases = [
    "sdpa_causal", "sdpa_bool_mask", "sdpa_float_mask",
    "mha_self_padding_mask", "mha_cross_batch_first", "mha_separate_kv_no_weights",
    "encoder_layer_post_relu", "encoder_layer_pre_gelu", "encoder_two_layers_norm",
    "decoder_layer_post", "decoder_layer_pre", "additive_attention",
]

/// One fixture: its tensors and the JSON configuration in its metadata.
private struct AttentionCase {
    let name: String
    let file: SafeTensors
    let config: [String: Any]
    /// Fresh leaves for every float input and additive mask, keyed like the fixture's gradients.
    var leaves: [String: Tensor] = [:]

    init(_ name: String) throws {
        self.name = name
        file = try SafeTensors(contentsOf: attentionFixtures.appendingPathComponent("\(name).safetensors"))
        let json = try #require(file.metadata["config"], "\(name): no config in the metadata")
        config = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    func int(_ key: String) -> Int { config[key] as? Int ?? 0 }
    func bool(_ key: String) -> Bool { config[key] as? Bool ?? false }
    func string(_ key: String) -> String? { config[key] as? String }

    mutating func input(_ name: String) throws -> Tensor {
        let tensor = try file.floatTensor(named: "input.\(name)").requiringGrad()
        leaves["grad_input.\(name)"] = tensor
        return tensor
    }

    func intMask(_ name: String) throws -> IntTensor? {
        file.names.contains("mask.\(name)") ? try file.intTensor(named: "mask.\(name)") : nil
    }

    /// mask.<name> in the convention the config names under `conventionKey`.
    mutating func attentionMask(_ name: String, conventionKey: String = "mask") throws -> AttentionMask? {
        guard file.names.contains("mask.\(name)") else { return nil }
        switch string(conventionKey) {
        case "allowed": return .allowed(try file.intTensor(named: "mask.\(name)"))
        case "blocked": return .blocked(try file.intTensor(named: "mask.\(name)"))
        default:
            let mask = try file.floatTensor(named: "mask.\(name)").requiringGrad()
            leaves["grad_mask.\(name)"] = mask
            return .additive(mask)
        }
    }

    var activation: TransformerActivation { string("activation") == "gelu" ? .gelu : .relu }
}

/// Builds the case's module, loads PyTorch's state strictly and runs the recorded call: the module
/// (nil for sdpa) and the outputs by name.
private func replay(_ c: inout AttentionCase) throws -> (Module?, [String: Tensor]) {
    let state = try Dictionary(uniqueKeysWithValues: c.file.names.filter { $0.hasPrefix("state.") }.map {
        (String($0.dropFirst("state.".count)), try c.file.floatTensor(named: $0))
    })
    func loaded<M: Module>(_ module: M) throws -> M {
        try module.load(stateDict: state, strict: true)
        module.eval()
        return module
    }
    switch c.string("module") {
    case "sdpa":
        let (q, k, v) = (try c.input("query"), try c.input("key"), try c.input("value"))
        let output = scaledDotProductAttention(
            query: q, key: k, value: v, attentionMask: try c.attentionMask("attn"), isCausal: c.bool("is_causal"),
            scale: (c.config["scale"] as? Double).map { Float($0) })
        return (nil, ["output": output])
    case "mha":
        let mha = try loaded(MultiheadAttention(embedDim: c.int("embed_dim"), heads: c.int("heads"), batchFirst: c.bool("batch_first")))
        let q = try c.input("query")
        let k = c.bool("self") ? q : try c.input("key")
        let v = c.bool("self") || c.bool("same_key_value") ? k : try c.input("value")
        let (output, weights) = mha(
            q, k, v, keyPaddingMask: try c.intMask("key_padding"), attentionMask: try c.attentionMask("attn"),
            needWeights: c.bool("need_weights"), averageAttentionWeights: c.bool("average"))
        return (mha, weights.map { ["output": output, "weights": $0] } ?? ["output": output])
    case "encoder_layer":
        let layer = try loaded(TransformerEncoderLayer(
            dModel: c.int("d_model"), heads: c.int("heads"), feedforward: c.int("feedforward"), dropout: 0,
            activation: c.activation, batchFirst: c.bool("batch_first"), normFirst: c.bool("norm_first")))
        let output = layer(
            try c.input("src"), mask: try c.attentionMask("attn"), srcKeyPaddingMask: try c.intMask("key_padding"),
            isCausal: c.bool("is_causal"))
        return (layer, ["output": output])
    case "encoder":
        let d = c.int("d_model")
        let encoder = try loaded(TransformerEncoder(numLayers: c.int("layers"), norm: LayerNorm([d])) { [c] in
            TransformerEncoderLayer(
                dModel: d, heads: c.int("heads"), feedforward: c.int("feedforward"), dropout: 0,
                activation: c.activation, batchFirst: c.bool("batch_first"), normFirst: c.bool("norm_first"))
        })
        let output = encoder(try c.input("src"), srcKeyPaddingMask: try c.intMask("key_padding"))
        return (encoder, ["output": output])
    case "decoder_layer":
        let layer = try loaded(TransformerDecoderLayer(
            dModel: c.int("d_model"), heads: c.int("heads"), feedforward: c.int("feedforward"), dropout: 0,
            activation: c.activation, batchFirst: c.bool("batch_first"), normFirst: c.bool("norm_first")))
        let output = layer(
            try c.input("tgt"), memory: try c.input("memory"), tgtMask: try c.attentionMask("tgt", conventionKey: "tgt_mask"),
            tgtKeyPaddingMask: try c.intMask("tgt_key_padding"), memoryKeyPaddingMask: try c.intMask("memory_key_padding"),
            tgtIsCausal: c.bool("tgt_is_causal"))
        return (layer, ["output": output])
    case "additive":
        let attention = try loaded(AdditiveAttention(
            queryFeatures: c.int("query_features"), keyFeatures: c.int("key_features"), hidden: c.int("hidden")))
        let (context, weights) = attention(
            queries: try c.input("query"), keys: try c.input("key"), values: try c.input("value"),
            mask: try c.attentionMask("attn"))
        return (attention, ["output": context, "weights": weights])
    default:
        throw DataFormatError(source: c.name, message: "unknown module \(c.string("module") ?? "nil")")
    }
}

// Elementwise |actual − expected| ≤ 1e-4·|expected| + 1e-5·scale, scale = max(|expected|, 0.1)
// over the tensor: float32 sums of a few dozen terms against a float64 reference (PyTorch's own
// float32 run is within 7e-7·scale on every case; see torch_float32_error in the metadata).
private let relativeTolerance: Float = 1e-4
private let scaleTolerance: Float = 1e-5

/// Checks `actual` against `expected` (NaN must meet NaN) and returns the largest error / scale.
@discardableResult
private func expectClose(
    _ actual: Tensor, _ expected: Tensor, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) -> Float {
    #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape), expected \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return .infinity }
    let (a, e) = (actual.scalars, expected.scalars)
    let scale = max(e.filter { !$0.isNaN }.map(abs).max() ?? 0, 0.1)
    var worst: (error: Float, index: Int) = (0, 0)
    var failures = 0
    for i in e.indices {
        if e[i].isNaN || a[i].isNaN {
            if !(e[i].isNaN && a[i].isNaN) { failures += 1; worst = (.infinity, i) }
            continue
        }
        let error = abs(a[i] - e[i])
        if !(error <= relativeTolerance * abs(e[i]) + scaleTolerance * scale) { failures += 1 }
        if error > worst.error { worst = (error, i) }
    }
    #expect(failures == 0, "\(what): \(failures) of \(e.count) elements differ; worst at \(worst.index): \(a[worst.index]) vs \(e[worst.index])",
            sourceLocation: sourceLocation)
    return worst.error / scale
}

@Suite struct AttentionParity {
    @Test(arguments: attentionCases)
    func matchesPyTorch(_ name: String) throws {
        var c = try AttentionCase(name)
        let (module, outputs) = try replay(&c)
        var worst: [String: Float] = [:]
        var loss: Tensor?
        for (key, output) in outputs.sorted(by: { $0.key < $1.key }) {
            worst["output"] = max(worst["output"] ?? 0, expectClose(output, try c.file.floatTensor(named: "output.\(key)"), "\(name) \(key)"))
            let term = (output * (try c.file.floatTensor(named: "upstream.\(key)"))).sum()
            loss = loss.map { $0 + term } ?? term
        }
        #expect(Set(outputs.keys) == Set(c.file.names.filter { $0.hasPrefix("output.") }.map { String($0.dropFirst(7)) }),
                "\(name): outputs differ from PyTorch's")
        try #require(loss).backward()

        let parameters = module?.namedParameters() ?? []
        let expectedParameters = c.file.names.filter { $0.hasPrefix("grad.") }
        #expect(Set(parameters.map { "grad.\($0.0)" }) == Set(expectedParameters), "\(name): parameters differ from PyTorch's")
        for (key, parameter) in parameters {
            let gradient = try #require(parameter.grad, "\(name): \(key) has no gradient")
            worst["parameters"] = max(worst["parameters"] ?? 0, expectClose(gradient, try c.file.floatTensor(named: "grad.\(key)"), "\(name) d/d\(key)"))
        }
        let expectedLeaves = c.file.names.filter { $0.hasPrefix("grad_input.") || $0.hasPrefix("grad_mask.") }
        #expect(Set(c.leaves.keys) == Set(expectedLeaves), "\(name): differentiable inputs differ from PyTorch's")
        for (key, leaf) in c.leaves.sorted(by: { $0.key < $1.key }) where expectedLeaves.contains(key) {
            let gradient = try #require(leaf.grad, "\(name): \(key) has no gradient")
            worst["inputs"] = max(worst["inputs"] ?? 0, expectClose(gradient, try c.file.floatTensor(named: key), "\(name) \(key)"))
        }
        print("AttentionParity \(name): largest error / scale", worst.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" },
              "(PyTorch float32: \(c.file.metadata["torch_float32_error"] ?? "?"))")
    }
}

// MARK: - Finite differences

/// Central differences of sum(outputs · upstreams) against the analytic gradient, on up to 12
/// elements of each leaf (perturbed in place, then restored).
private func checkFiniteDifferences(
    _ leaves: [(String, Tensor)], _ outputs: () -> [Tensor], sourceLocation: SourceLocation = #_sourceLocation
) {
    let generator = Generator(seed: 99)
    let upstreams = outputs().map { Tensor.uniform($0.shape, low: -1, high: 1, generator: generator) }
    for (_, leaf) in leaves { leaf.zeroGrad() }
    zip(outputs(), upstreams).map { ($0 * $1).sum() }.reduce(Tensor(scalar: 0), +).backward()
    func objective() -> Double {
        noGrad {
            zip(outputs(), upstreams).reduce(0.0) { total, pair in
                zip(pair.0.scalars, pair.1.scalars).reduce(total) { $0 + Double($1.0) * Double($1.1) }
            }
        }
    }
    let epsilon: Float = 2e-3
    for (name, leaf) in leaves {
        guard let analytic = leaf.grad?.scalars else {
            Issue.record("\(name) has no gradient", sourceLocation: sourceLocation)
            continue
        }
        let n = leaf.count
        for position in Set((0..<min(n, 12)).map { n <= 12 ? $0 : $0 * (n - 1) / 11 }).sorted() {
            let pointer = leaf.storage.pointer + leaf.offset + position
            let original = pointer.pointee
            pointer.pointee = original + epsilon
            let plus = objective()
            pointer.pointee = original - epsilon
            let minus = objective()
            pointer.pointee = original
            let numeric = Float((plus - minus) / (2 * Double(epsilon)))
            #expect(
                abs(numeric - analytic[position]) <= 3e-3 + 1e-2 * abs(analytic[position]),
                "\(name)[\(position)]: analytic \(analytic[position]) vs numeric \(numeric)", sourceLocation: sourceLocation)
        }
    }
}

@Suite struct AttentionFiniteDifferences {
    let generator = Generator(seed: 5)
    func leaf(_ shape: [Int]) -> Tensor { Tensor.uniform(shape, low: -1, high: 1, generator: generator).requiringGrad() }

    @Test func scaledDotProductAttentionCausal() {
        let (q, k, v) = (leaf([2, 3, 4]), leaf([2, 5, 4]), leaf([2, 5, 3]))
        checkFiniteDifferences([("query", q), ("key", k), ("value", v)]) {
            [scaledDotProductAttention(query: q, key: k, value: v, isCausal: true)]
        }
    }

    @Test func scaledDotProductAttentionFloatMaskAndScale() {
        let (q, k, v, mask) = (leaf([1, 2, 3, 4]), leaf([1, 2, 5, 4]), leaf([1, 2, 5, 2]), leaf([2, 1, 5]))
        checkFiniteDifferences([("query", q), ("key", k), ("value", v), ("mask", mask)]) {
            [scaledDotProductAttention(query: q, key: k, value: v, attentionMask: .additive(mask), scale: 0.7)]
        }
    }

    /// The three-node path (weights returned and differentiated), on one packed Q|K|V tensor.
    @Test func multiHeadWithWeightsOnPackedInput() {
        let packed = leaf([2, 4, 3 * 6])
        let blocked = IntTensor([0, 0, 1, 0, 1, 0, 0, 0], shape: [2, 1, 1, 4])
        checkFiniteDifferences([("packed", packed)]) {
            let (output, weights) = multiHeadScaledDotProductAttention(
                query: AttentionInput(packed, columns: 0..<6), key: AttentionInput(packed, columns: 6..<12),
                value: AttentionInput(packed, columns: 12..<18), heads: 2, mask: AttentionMask.blocked(blocked).additiveValues,
                needWeights: true)
            return [output, weights!]
        }
    }

    @Test func additiveAttention() {
        let attention = Generator.withDefault(Generator(seed: 3)) { AdditiveAttention(queryFeatures: 3, keyFeatures: 4, hidden: 5) }
        let (q, k, v) = (leaf([2, 3, 3]), leaf([2, 4, 4]), leaf([2, 4, 2]))
        let mask = AttentionMask.blocked(IntTensor([0, 0, 0, 1, 0, 0, 0, 0], shape: [2, 1, 4]))
        checkFiniteDifferences(attention.namedParameters() + [("queries", q), ("keys", k), ("values", v)]) {
            let (context, weights) = attention(queries: q, keys: k, values: v, mask: mask)
            return [context, weights]
        }
    }
}

// MARK: - Semantics PyTorch fixes without a fixture

@Suite struct AttentionSemantics {
    /// A query that sees no key: 0 from sdpa and from MultiheadAttention without weights (PyTorch
    /// 2.x), NaN from MultiheadAttention with weights (a softmax over −∞, as PyTorch).
    @Test func fullyMaskedRows() {
        let x = Tensor.uniform([1, 3, 4], low: -1, high: 1, generator: Generator(seed: 1))
        let allowed = IntTensor([1, 1, 1, 0, 0, 0, 1, 0, 1], shape: [3, 3])
        let output = scaledDotProductAttention(query: x, key: x, value: x, attentionMask: .allowed(allowed))
        #expect(output.scalars[4..<8].allSatisfy { $0 == 0 })
        #expect(!output.scalars[0..<4].contains { $0 == 0 || $0.isNaN })

        let mha = MultiheadAttention(embedDim: 4, heads: 2, batchFirst: true)
        let padding = IntTensor([1, 1, 1], shape: [1, 3])
        let (withWeights, weights) = mha(x, x, x, keyPaddingMask: padding)
        #expect(withWeights.scalars.allSatisfy(\.isNaN) && weights!.scalars.allSatisfy(\.isNaN))
        let (withoutWeights, _) = mha(x, x, x, keyPaddingMask: padding, needWeights: false)
        #expect(withoutWeights.scalars == mha.outProj.bias!.expanded(to: [1, 3, 4]).scalars)
    }

    /// The backward closures hold no reference to the tensors they belong to, so a graph that is
    /// never run backward is freed with its output.
    @Test func graphWithoutBackwardIsFreed() {
        let x = Tensor.randn([2, 5, 12], generator: Generator(seed: 3)).requiringGrad()
        for (needWeights, dropout) in [(false, Float(0.2)), (true, 0), (true, 0.2)] {
            weak var output: Tensor?
            weak var weights: Tensor?
            do {
                let result = multiHeadScaledDotProductAttention(
                    query: AttentionInput(x, columns: 0..<4), key: AttentionInput(x, columns: 4..<8),
                    value: AttentionInput(x, columns: 8..<12), heads: 2, dropoutP: dropout, needWeights: needWeights)
                (output, weights) = (result.output, result.weights)
                #expect(output != nil && (weights != nil) == needWeights)
            }
            #expect(output == nil && weights == nil, "needWeights: \(needWeights), dropout \(dropout)")
        }
    }

    /// The one-node backward writes a packed Q|K|V gradient straight from its products when their
    /// column blocks tile the tensor (320 features here, 288 in the blocks otherwise, so the last 32
    /// columns must come back 0). Large buffers are recycled by size, so each backward here gets
    /// buffers that held NaN; the three-node backward (needWeights), which zero-fills and
    /// accumulates, is the reference.
    @Test(arguments: [288, 320])
    func packedGradientFromRecycledBuffers(_ features: Int) {
        let shape = [4, 256, features]  // over 1 MiB, so its buffers are recycled
        let values = Tensor.randn(shape, generator: Generator(seed: 5))
        let upstream = Tensor.randn([4, 256, 96], generator: Generator(seed: 6))
        func gradient(needWeights: Bool) -> [Float] {
            let x = values.detach().requiringGrad()
            let output = multiHeadScaledDotProductAttention(
                query: AttentionInput(x, columns: 0..<96), key: AttentionInput(x, columns: 96..<192),
                value: AttentionInput(x, columns: 192..<288), heads: 2, needWeights: needWeights
            ).output
            let loss = (output * upstream).sum()
            for _ in 0..<4 { _ = Tensor.full(shape, .nan) }
            loss.backward()
            return x.grad!.scalars
        }
        let direct = gradient(needWeights: false)
        let reference = gradient(needWeights: true)
        var (nans, differences, nonzeroUnused, nonzero) = (0, 0, 0, 0)
        for (index, (d, r)) in zip(direct, reference).enumerated() {
            if d.isNaN { nans += 1 }
            if d != r { differences += 1 }
            if d != 0 { nonzero += 1 }
            // Columns 288..<320 (when there are any) take part in nothing.
            if index % features >= 288 && d != 0 { nonzeroUnused += 1 }
        }
        #expect(nans == 0 && differences == 0 && nonzeroUnused == 0, "features \(features)")
        #expect(nonzero > direct.count / 2)
    }

    @Test func causalFlagMatchesCausalMask() {
        let g = Generator(seed: 2)
        let (q, k, v) = (Tensor.randn([2, 5, 8], generator: g), Tensor.randn([2, 5, 8], generator: g), Tensor.randn([2, 5, 8], generator: g))
        let flagged = scaledDotProductAttention(query: q, key: k, value: v, isCausal: true)
        let masked = scaledDotProductAttention(query: q, key: k, value: v, attentionMask: .causal(queries: 5, keys: 5))
        #expect(flagged.scalars == masked.scalars)
    }

    @Test func unbatchedInputMatchesBatchOfOne() {
        let mha = MultiheadAttention(embedDim: 8, heads: 2)
        let x = Tensor.randn([5, 8], generator: Generator(seed: 4))
        let (single, weights) = mha(x, x, x)
        let (batched, batchedWeights) = mha(x.unsqueezed(axis: 1), x.unsqueezed(axis: 1), x.unsqueezed(axis: 1))
        #expect(single.shape == [5, 8] && weights!.shape == [5, 5])
        #expect(zip(single.scalars, batched.scalars).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(zip(weights!.scalars, batchedWeights!.scalars).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    /// Attention dropout zeroes weights and scales the rest by 1/(1−p); the same seed gives the
    /// same masks, and eval mode turns dropout off.
    @Test func dropoutInTrainingIsSeeded() {
        let x = Tensor.randn([2, 6, 16], generator: Generator(seed: 8))
        func weights(p: Float, seed: UInt64) -> Tensor {
            multiHeadScaledDotProductAttention(
                query: AttentionInput(x), key: AttentionInput(x), value: AttentionInput(x), heads: 4, dropoutP: p,
                generator: Generator(seed: seed), needWeights: true
            ).weights!
        }
        let (plain, dropped) = (weights(p: 0, seed: 1).scalars, weights(p: 0.5, seed: 1).scalars)
        #expect(dropped.contains(0))
        #expect(zip(plain, dropped).allSatisfy { $1 == 0 || abs($1 - 2 * $0) < 1e-6 })
        #expect(weights(p: 0.5, seed: 1).scalars == dropped)
        #expect(weights(p: 0.5, seed: 2).scalars != dropped)

        func encoderLayer(seed: UInt64) -> TransformerEncoderLayer {
            Generator.withDefault(Generator(seed: 11)) {
                TransformerEncoderLayer(dModel: 16, heads: 4, feedforward: 32, dropout: 0.3, batchFirst: true, generator: Generator(seed: seed))
            }
        }
        let (first, second, other) = (encoderLayer(seed: 7), encoderLayer(seed: 7), encoderLayer(seed: 8))
        let trained = first(x)
        #expect(second(x).scalars == trained.scalars)
        #expect(other(x).scalars != trained.scalars)
        first.eval()
        let evaluated = first(x)
        #expect(evaluated.scalars != trained.scalars)
        #expect(first(x).scalars == evaluated.scalars)
        trained.sum().backward()
        #expect(first.parameters().allSatisfy { $0.grad?.scalars.allSatisfy(\.isFinite) ?? false })
    }

    @Test func positionalEncodings() {
        let sinusoidal = SinusoidalPositionalEncoding(dModel: 6, maxLength: 10, dropout: 0)
        #expect(sinusoidal.stateDict().isEmpty)
        let pe = sinusoidal.pe.value
        // pe[3, 2] = sin(3 / 10000^(2/6)), pe[3, 3] = cos(…)
        let angle = 3 / pow(10000, 2.0 / 6)
        #expect(abs(pe.scalars[3 * 6 + 2] - Float(sin(angle))) < 1e-6 && abs(pe.scalars[3 * 6 + 3] - Float(cos(angle))) < 1e-6)
        let x = Tensor.zeros([2, 4, 6])
        #expect(sinusoidal(x).scalars == pe.narrow(axis: 0, start: 0, length: 4).expanded(to: [2, 4, 6]).scalars)
        let sequenceFirst = SinusoidalPositionalEncoding(dModel: 6, maxLength: 10, dropout: 0, batchFirst: false)
        #expect(sequenceFirst(Tensor.zeros([4, 2, 6])).scalars == pe.narrow(axis: 0, start: 0, length: 4).unsqueezed(axis: 1).expanded(to: [4, 2, 6]).scalars)

        let learned = LearnedPositionalEmbedding(maxLength: 10, dModel: 6)
        #expect(learned.stateDict().map(\.key) == ["weight"])
        #expect(learned.weight.scalars.allSatisfy { abs($0) <= 0.04 })
        learned(Tensor.zeros([2, 4, 6])).sum().backward()
        #expect(learned.weight.grad!.scalars == [Float](repeating: 2, count: 24) + [Float](repeating: 0, count: 36))
    }
}

// MARK: - Vision Transformer

@Suite struct VisionTransformerTests {
    func makeViT(seed: UInt64) -> VisionTransformer {
        Generator.withDefault(Generator(seed: seed)) {
            VisionTransformer(imageSize: 28, patchSize: 7, inChannels: 1, classes: 3, dim: 32, depth: 2, heads: 4, mlpDim: 64)
        }
    }

    @Test func shapeKeysAndParameterCount() {
        let vit = makeViT(seed: 1)
        let x = Tensor.randn([2, 1, 28, 28], generator: Generator(seed: 2))
        #expect(vit(x).shape == [2, 3])
        let (d, ff, patches) = (32, 64, 16)
        let layer = (3 * d * d + 3 * d) + (d * d + d) + (d * ff + ff) + (ff * d + d) + 4 * d
        let expected = (d * 49 + d) + d + (patches + 1) * d + 2 * layer + 2 * d + (d * 3 + 3)
        #expect(vit.parameterCount() == expected)
        let keys = Set(vit.stateDict().map(\.key))
        for key in ["patch_embedding.weight", "class_token", "position_embedding.weight",
                    "encoder.layers.1.self_attn.in_proj_weight", "encoder.layers.0.self_attn.out_proj.bias",
                    "encoder.layers.0.linear1.weight", "encoder.layers.1.norm2.bias", "encoder.norm.weight", "head.bias"] {
            #expect(keys.contains(key), "missing \(key)")
        }
    }

    @Test func trainsOnATinyBatch() {
        let vit = makeViT(seed: 3)
        let g = Generator(seed: 4)
        let x = Tensor.randn([6, 1, 28, 28], generator: g)
        let labels = IntTensor([0, 1, 2, 0, 1, 2])
        var losses: [Float] = []
        for _ in 0..<25 {
            let loss = crossEntropy(logits: vit(x), labels: labels)
            losses.append(loss.item)
            vit.zeroGrad()
            loss.backward()
            noGrad {
                for p in vit.parameters() { p.assign(p - 0.05 * p.grad!) }
            }
        }
        #expect(losses.last! < 0.5 * losses.first!, "losses \(losses)")
    }

    @Test func reloadsItsOwnStateDict() throws {
        let (source, target) = (makeViT(seed: 5), makeViT(seed: 6))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("galen-vit-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try source.save(to: path)
        try target.load(contentsOf: path, strict: true)
        source.eval()
        target.eval()
        let x = Tensor.randn([2, 1, 28, 28], generator: Generator(seed: 7))
        #expect(source(x).scalars == target(x).scalars)
    }
}

// MARK: - Timing (prints only; run with GALEN_ATTENTION_TIMING=1)

@Suite struct AttentionTiming {
    /// The transformer benchmark's encoder: 4 post-norm layers, d 128, 4 heads, feed-forward 256,
    /// dropout 0.1, T 64, batch 32; forward + backward.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["GALEN_ATTENTION_TIMING"] != nil))
    func encoderForwardBackward() {
        let encoder = TransformerEncoder(numLayers: 4) {
            TransformerEncoderLayer(dModel: 128, heads: 4, feedforward: 256, dropout: 0.1, batchFirst: true)
        }
        let x = Tensor.randn([32, 64, 128])
        func milliseconds(_ body: () -> Void) -> String {
            var times: [Double] = []
            for _ in 0..<12 {
                let start = Date()
                body()
                times.append(Date().timeIntervalSince(start) * 1000)
            }
            let steady = times.dropFirst(2).sorted()
            return String(format: "median %.1f, min %.1f", steady[steady.count / 2], steady.first!)
        }
        print("AttentionTiming (threads \(Threads.count), ms)")
        print("  encoder forward + backward:", milliseconds { encoder.zeroGrad(); encoder(x).mean().backward() })
        print("  encoder forward (no graph):", milliseconds { _ = noGrad { encoder(x) } })
        let layer = encoder.layers[0]
        let leaf = x.copy().requiringGrad()
        print("  one layer's self-attention block, forward + backward:", milliseconds {
            layer.selfAttn(leaf, leaf, leaf, needWeights: false).output.mean().backward()
        })
        print("  one layer norm, forward + backward:", milliseconds { layer.norm1(leaf).mean().backward() })
        print("  one dropout, forward + backward:", milliseconds { layer.dropout1(leaf).mean().backward() })
        print("  one residual add, forward + backward:", milliseconds { (leaf + leaf).mean().backward() })
    }
}
