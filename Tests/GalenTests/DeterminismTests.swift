import Foundation
import Galen
import Testing

@Suite(.serialized) struct Determinism {
    /// Large reductions split across threads combine partial sums in a fixed order.
    @Test func parallelReductionsGiveTheSameBitsEveryRun() {
        let x = Tensor.randn([3_000_000], generator: Generator(seed: 11))
        let first = x.sum().item.bitPattern
        for _ in 0..<5 { #expect(x.sum().item.bitPattern == first) }
        let reference = x.scalars.reduce(0.0) { $0 + Double($1) }
        #expect(abs(Double(x.sum().item) - reference) < 1e-3 * max(1, abs(reference)))
    }

    /// The same seed gives bit-identical weights after a few training steps.
    @Test func sameSeedSameTrainedWeights() {
        func train() -> [UInt32] {
            let g = Generator(seed: 2026)
            let w = Tensor.randn([20, 3], std: 0.1, generator: g).requiringGrad()
            let x = Tensor.randn([256, 20], generator: g)
            let labels = IntTensor.randint(0..<3, shape: [256, 1], generator: g)
            for _ in 0..<20 {
                let logits = dropout(x, p: 0.1, generator: g).matmul(w)
                let loss = -logSoftmax(logits, axis: 1).gather(axis: 1, index: labels).mean()
                w.zeroGrad()
                loss.backward()
                noGrad { addInPlaceForTest(w, w.grad! * -0.5) }
            }
            return w.scalars.map(\.bitPattern)
        }
        #expect(train() == train())
    }
}
