import Foundation
import Galen
import Testing

@Suite struct RandomNumbers {
    @Test func sameSeedSameBits() {
        let a = Tensor.randn([1000], generator: Generator(seed: 42)).scalars
        let b = Tensor.randn([1000], generator: Generator(seed: 42)).scalars
        let c = Tensor.randn([1000], generator: Generator(seed: 43)).scalars
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        #expect(a != c)
    }

    @Test func defaultGeneratorFollowsManualSeed() {
        manualSeed(5)
        let a = Tensor.rand([10]).scalars
        manualSeed(5)
        #expect(Tensor.rand([10]).scalars == a)
    }

    @Test func stateRoundTripsForCheckpoints() {
        let g = Generator(seed: 1)
        _ = g.next()
        let saved = g.stateWords
        let expected = (0..<5).map { _ in g.next() }
        let restored = Generator(seed: 999)
        restored.stateWords = saved
        #expect((0..<5).map { _ in restored.next() } == expected)
    }

    @Test func distributionsHaveTheirMoments() {
        let g = Generator(seed: 3)
        let normal = Tensor.randn([100_000], mean: 2, std: 3, generator: g)
        #expect(abs(normal.mean().item - 2) < 0.05)
        #expect(abs(normal.variance().sqrt().item - 3) < 0.05)
        let uniform = Tensor.uniform([100_000], low: -1, high: 3, generator: g)
        #expect(abs(uniform.mean().item - 1) < 0.02)
        #expect(uniform.min().item >= -1 && uniform.max().item < 3)
        let coins = Tensor.bernoulli([100_000], probability: 0.3, generator: g)
        #expect(abs(coins.mean().item - 0.3) < 0.01)
        let permutation = g.permutation(100)
        #expect(permutation.sorted() == Array(0..<100))
        let draws = IntTensor.randint(0..<7, shape: [10_000], generator: g).scalars
        #expect(Set(draws) == Set(0..<7))
    }

    @Test func dropoutScalesSurvivorsAndIsIdentityInEval() {
        let x = Tensor.ones([10_000]).requiringGrad()
        let y = dropout(x, p: 0.25, generator: Generator(seed: 9))
        let values = Set(y.scalars)
        #expect(values == [0, Float(1) / 0.75])
        #expect(abs(y.mean().item - 1) < 0.03)
        y.sum().backward()
        #expect(x.grad!.scalars == y.scalars)  // gradient passes through the same mask
        #expect(dropout(x, p: 0.5, training: false) === x)
    }
}
