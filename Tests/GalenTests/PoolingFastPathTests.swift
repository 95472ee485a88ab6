@testable import Galen
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

    /// The AVX2 2×2 kernels (PoolingKernels.c) against the general loops on the same input: values,
    /// argmax indices and input gradients, bit for bit. The shapes cover rows of 8 windows and more (with
    /// the overlapping last vector), rows of 4–7 (the 4-wide loop), shorter rows (scalar only), and odd heights and widths whose
    /// last row or column no window covers; the data includes ties, NaN and -inf.
    @Test(.enabled(if: poolKernelsUseAVX2, "the 2×2 kernels need AVX2"), arguments: [[2, 3, 28, 28], [1, 2, 10, 10], [2, 1, 9, 35], [1, 1, 17, 16], [1, 3, 2, 2], [1, 1, 5, 19], [3, 2, 10, 10], [1, 1, 6, 14], [1, 2, 7, 6]])
    func vectorizedKernelsMatchTheGeneralLoop(shape: [Int]) {
        let g = Generator(seed: 31)
        let x = Tensor.randn(shape, generator: g)
        let count = x.count
        // Ties: a run of equal values, so the first maximum must win.
        for i in stride(from: 0, to: count, by: 11) { x.storage.pointer[i] = 0.5 }
        for i in stride(from: 3, to: count, by: 13) { x.storage.pointer[i] = 0.5 }
        x.storage.pointer[count / 2] = .nan
        x.storage.pointer[count / 3] = -.infinity
        x.storage.pointer[(count / 3) + 1] = .nan
        let gradient = Tensor.randn(
            [shape[0], shape[1], shape[2] / 2, shape[3] / 2], generator: g)
        var results: [(values: [Float], indices: [Int32], grad: [Float])] = []
        for fast in [true, false] {
            let input = x.copy().requiringGrad()
            let (values, indices) = maxPool2dRecorded(
                input, kernelSize: (2, 2), stride: nil, padding: (0, 0), dilation: (1, 1), ceilMode: false,
                op: "test", allowFastPath: fast)
            (values * gradient).sum().backward()
            results.append((values.scalars, indices, input.grad!.scalars))
        }
        let (fast, general) = (results[0], results[1])
        #expect(fast.indices == general.indices)
        #expect(fast.values.map(\.bitPattern) == general.values.map(\.bitPattern))
        #expect(fast.grad.map(\.bitPattern) == general.grad.map(\.bitPattern))
        // The general loop really is a different path: it reports a NaN wherever the fast one does.
        #expect(general.values.contains { $0.isNaN })
    }
}
