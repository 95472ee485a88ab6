import Foundation
import Galen
import GalenNN
import Testing

// The sequence models of the zoo, truncated BPTT, the character language model and skip-gram.

private func tokens(_ rows: [[Int]], maxLength: Int) -> Tensor {
    Tensor(rows.flatMap { row in (row + [Int](repeating: 0, count: maxLength - row.count)).map(Float.init) },
           shape: [rows.count, maxLength])
}

@Suite struct SequenceModels {
    /// Every sequence model builds for signals and tokens and maps a batch to (N, outputs).
    @Test(arguments: ModelZoo.sequenceNames)
    func shapes(_ name: String) throws {
        try Generator.withDefault(Generator(seed: 1)) {
            let signal = try ModelZoo.makeSequence(name: name, input: .signal(channels: 2, length: 40), outputs: 3)
            #expect(signal(Tensor.randn([4, 2, 40])).shape == [4, 3])
            let text = try ModelZoo.makeSequence(name: name, input: .tokens(vocabulary: 9, maxLength: 12), outputs: 1)
            #expect(text(tokens([[2, 3, 4], [5, 6, 7, 8, 2, 3]], maxLength: 12)).shape == [2, 1])
        }
        #expect(throws: ModelZooError.self) { try ModelZoo.makeSequence(name: "lenet", input: .signal(channels: 1, length: 9), outputs: 2) }
        #expect(throws: ModelZooError.self) { try ModelZoo.make(name: name, inChannels: 1, classes: 2) }
    }

    /// Token models read only the valid tokens: a sequence scores the same alone or padded in a
    /// batch with a longer one (eval mode; cnn-lstm excluded, its convolutions see the padding).
    @Test(arguments: ["lstm", "gru", "transformer"])
    func paddingDoesNotLeak(_ name: String) throws {
        let model = try Generator.withDefault(Generator(seed: 2)) {
            try ModelZoo.makeSequence(name: name, input: .tokens(vocabulary: 9, maxLength: 10), outputs: 2)
        }
        model.eval()
        let short = [2, 3, 4]
        let alone = noGrad { model(tokens([short], maxLength: 10)) }.scalars
        let batched = noGrad { model(tokens([short, [5, 6, 7, 8, 2, 3, 4, 5, 6]], maxLength: 10)) }.scalars
        for (a, b) in zip(alone, batched.prefix(2)) { #expect(abs(a - b) <= 1e-5, "\(name): \(alone) vs \(batched)") }
    }

    /// Truncated BPTT equals running the chunks one after the other with the state detached in
    /// between: same outputs, and the same gradients for the weights and the input.
    @Test(arguments: [RecurrentCell.lstm, .gru, .rnnTanh])
    func truncationEqualsDetachedChunks(_ kind: RecurrentCell) throws {
        let g = Generator(seed: 4)
        let (steps, batch, features, width) = (6, 2, 3, 4)
        let gates = kind.gateCount * width
        let x = Tensor.randn([steps, batch, features], generator: g)
        let weights = [Tensor.randn([gates, features], generator: g) * 0.5, Tensor.randn([gates, width], generator: g) * 0.5,
                       Tensor.randn([gates], generator: g) * 0.1, Tensor.randn([gates], generator: g) * 0.1]
        let upstream = Tensor.randn([steps, batch, width], generator: g)
        let h0 = Tensor.zeros([batch, width]), c0 = kind == .lstm ? Tensor.zeros([batch, width]) : nil

        func gradients(_ body: (Tensor, [Tensor]) -> Tensor) -> [[Float]] {
            let input = x.copy().requiringGrad()
            let w = weights.map { $0.copy().requiringGrad() }
            (body(input, w) * upstream).sum().backward()
            return ([input] + w).map { $0.grad!.scalars }
        }
        let truncated = gradients { input, w in
            recurrentLayer(kind, input: input, hidden: h0, cell: c0, weightIH: w[0], weightHH: w[1], biasIH: w[2], biasHH: w[3],
                           truncation: 2).output
        }
        let chunked = gradients { input, w in
            var (h, c) = (h0, c0)
            var outputs: [Tensor] = []
            for start in stride(from: 0, to: steps, by: 2) {
                let result = recurrentLayer(kind, input: input.narrow(axis: 0, start: start, length: 2), hidden: h, cell: c,
                                            weightIH: w[0], weightHH: w[1], biasIH: w[2], biasHH: w[3])
                outputs.append(result.output)
                (h, c) = (result.hidden.detach(), result.cell?.detach())
            }
            return concat(outputs, axis: 0)
        }
        let full = gradients { input, w in
            recurrentLayer(kind, input: input, hidden: h0, cell: c0, weightIH: w[0], weightHH: w[1], biasIH: w[2], biasHH: w[3]).output
        }
        for (a, b) in zip(truncated.joined(), chunked.joined()) { #expect(abs(a - b) <= 1e-5 + 1e-4 * abs(b)) }
        #expect(truncated != full, "truncation changed nothing")
    }

    /// A causal language model's logits at a position do not depend on later tokens; a masked
    /// one's do.
    @Test func causalModelDoesNotSeeTheFuture() {
        for causal in [true, false] {
            let model = Generator.withDefault(Generator(seed: 5)) {
                CharacterLanguageModel(vocabulary: 12, contextLength: 8, causal: causal, dimension: 16, heads: 2, layers: 2)
            }
            model.eval()
            let a = noGrad { model.logits(IntTensor([3, 4, 5, 6, 7, 8], shape: [1, 6])) }
            let b = noGrad { model.logits(IntTensor([3, 4, 5, 9, 7, 8], shape: [1, 6])) }
            let before = (a.narrow(axis: 1, start: 0, length: 3) - b.narrow(axis: 1, start: 0, length: 3)).abs().max().item
            #expect(causal ? before == 0 : before > 1e-4, "causal \(causal): change \(before) before the edited token")
        }
    }

    /// Sampling is reproducible from the generator and stops at the stop token.
    @Test func samplingIsSeeded() {
        let model = Generator.withDefault(Generator(seed: 6)) {
            CharacterLanguageModel(vocabulary: 6, contextLength: 8, causal: true, dimension: 8, heads: 2, layers: 1)
        }
        let first = model.sample(prompt: [1], maxTokens: 20, temperature: 1, generator: Generator(seed: 3))
        let second = model.sample(prompt: [1], maxTokens: 20, temperature: 1, generator: Generator(seed: 3))
        #expect(first == second && first.count == 21)
        let stopped = model.sample(prompt: [1], maxTokens: 200, temperature: 1, stop: first[1], generator: Generator(seed: 3))
        #expect(stopped == Array(first.prefix(2)))
    }

    /// Skip-gram's loss is what its formula says on a hand-made case, and its gradients match
    /// central differences.
    @Test func skipGramLoss() {
        let model = SkipGram(vocabulary: 4, dimension: 2)
        model.inEmbed.weight.assign(Tensor([1, 0, 0, 1, 1, 1, -1, 0], shape: [4, 2]))
        model.outEmbed.weight.assign(Tensor([0.5, 0, 0, 0.5, 1, -1, 2, 2], shape: [4, 2]))
        let loss = model.loss(centers: IntTensor([0]), contexts: IntTensor([1]), negatives: IntTensor([2, 3], shape: [1, 2]))
        // v = (1, 0); u_o · v = 0; negatives' dots 1 and 2: −log σ(0) − log σ(−1) − log σ(−2).
        func softplus(_ x: Double) -> Double { Foundation.log(1 + Foundation.exp(x)) }
        #expect(abs(Double(loss.item) - (softplus(0) + softplus(1) + softplus(2))) <= 1e-5)
        loss.backward()
        let analytic = model.inEmbed.weight.grad!.scalars
        for position in 0..<2 {
            func value(_ delta: Float) -> Double {
                let w = model.inEmbed.weight
                let original = w.storage.pointer[position]
                w.storage.pointer[position] = original + delta
                defer { w.storage.pointer[position] = original }
                return Double(noGrad { model.loss(centers: IntTensor([0]), contexts: IntTensor([1]), negatives: IntTensor([2, 3], shape: [1, 2])) }.item)
            }
            let numeric = Float((value(1e-3) - value(-1e-3)) / 2e-3)
            #expect(abs(numeric - analytic[position]) <= 1e-3)
        }
    }
}
