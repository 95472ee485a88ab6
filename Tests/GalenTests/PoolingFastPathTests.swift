import Galen
import Testing

@Suite struct PoolingFastPath {
    /// The unrolled 2×2 stride-2 kernel agrees with a max over explicit 2×2 windows, NaN included,
    /// and routes the gradient to the window's maximum.
    @Test func twoByTwoMatchesExplicitWindows() {
        let g = Generator(seed: 12)
        let x = Tensor.randn([3, 4, 10, 14], generator: g)
        x.storage.pointer[17] = .nan
        let pooled = maxPool2d(x, kernelSize: 2)
        let windows = x.reshaped([3, 4, 5, 2, 7, 2]).permuted([0, 1, 2, 4, 3, 5]).reshaped([3, 4, 5, 7, 4])
        let expected = windows.max(axis: -1).values
        #expect(pooled.shape == [3, 4, 5, 7])
        for (a, b) in zip(pooled.scalars, expected.scalars) { #expect(a == b || (a.isNaN && b.isNaN)) }

        let clean = Tensor.randn([2, 3, 8, 6], generator: g).requiringGrad()
        maxPool2d(clean, kernelSize: 2).sum().backward()
        let grad = clean.grad!.scalars
        let values = clean.scalars
        // Each window passes exactly one 1, at its largest element.
        for window in 0..<(2 * 3 * 4 * 3) {
            let plane = window / 12, oh = (window % 12) / 3, ow = window % 3
            let positions = [0, 1, 6, 7].map { plane * 48 + (2 * oh) * 6 + 2 * ow + $0 }
            let best = positions.max { values[$0] < values[$1] }!
            #expect(positions.map { grad[$0] } == positions.map { $0 == best ? 1 : 0 })
        }
    }
}
