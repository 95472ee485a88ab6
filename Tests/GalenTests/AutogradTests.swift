import Foundation
import Galen
import Testing

@Suite struct Autograd {
    @Test func gradientsAccumulateUntilZeroed() {
        let x = Tensor([1, 2, 3]).requiringGrad()
        (x * x).sum().backward()
        (x * x).sum().backward()
        #expect(x.grad!.scalars == [4, 8, 12])
        x.zeroGrad()
        (x * 3).sum().backward()
        #expect(x.grad!.scalars == [3, 3, 3])
    }

    @Test func sharedSubexpressionsSumTheirGradients() {
        let x = Tensor([0.5, -2]).requiringGrad()
        let y = x * x + x  // dy/dx = 2x + 1, reached through two paths
        y.sum().backward()
        #expect(x.grad!.scalars == [2, -3])
    }

    @Test func explicitGradientForNonScalarOutputs() {
        let x = Tensor([1, 2, 3, 4], shape: [2, 2]).requiringGrad()
        let y = x * 2
        y.backward(Tensor([1, 0, 0, 10], shape: [2, 2]))
        #expect(x.grad!.scalars == [2, 0, 0, 20])
    }

    @Test func noGradAndDetachRecordNothing() {
        let x = Tensor([1, 2]).requiringGrad()
        let inside = noGrad { x * 2 }
        #expect(!inside.requiresGrad)
        #expect(GradMode.isEnabled)
        let detached = x.detach() * 2
        #expect(!detached.requiresGrad)
        let constant = Tensor([1, 2]) * 2
        #expect(!constant.requiresGrad && constant.isLeaf)
        let recorded = x * 2
        #expect(recorded.requiresGrad && !recorded.isLeaf)
    }

    @Test func gradModeIsPerThread() async {
        let x = Tensor([1]).requiringGrad()
        noGrad {
            // Another thread keeps recording while this one has switched it off.
            let other = Thread.detachNewThreadAndWait { GradMode.isEnabled }
            #expect(other)
            #expect(!GradMode.isEnabled)
        }
        #expect((x * 2).requiresGrad)
    }

    @Test func retainGraphAllowsASecondBackward() {
        let x = Tensor([3]).requiringGrad()
        let y = (x * x).sum()
        y.backward(retainGraph: true)
        y.backward()
        #expect(x.grad!.scalars == [12])
    }

    @Test func backwardFreesTheGraph() {
        weak var intermediate: Tensor?
        let x = Tensor.randn([4, 4]).requiringGrad()
        // Built in a function so that no local variable keeps `hidden` alive.
        func makeLoss() -> Tensor {
            let hidden = relu(x.matmul(x))
            intermediate = hidden
            return hidden.sum()
        }
        let loss = makeLoss()
        #expect(intermediate != nil)  // the graph keeps it alive for backward
        loss.backward()
        // The loss still exists, but backward dropped the closures and inputs that held `hidden`.
        #expect(intermediate == nil)
        #expect(x.grad != nil)
    }

    /// A training-style loop of 10,000 steps keeps a flat memory footprint: the resident set after
    /// the last step is within a few MiB of the one after step 1,000. It runs in a child process
    /// (an exit test), because the resident set is the whole process's and the other suites
    /// allocate concurrently.
    @Test func tenThousandStepsKeepAFlatMemoryFootprint() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            let generator = Generator(seed: 7)
            let w = Tensor.randn([64, 32], std: 0.1, generator: generator).requiringGrad()
            let inputs = Tensor.randn([16, 64], generator: generator)
            var residentAtThousand = 0
            for step in 1...10_000 {
                let loss = tanh(inputs.matmul(w)).square().mean()
                w.zeroGrad()
                loss.backward()
                noGrad { addInPlaceForTest(w, w.grad! * -0.01) }
                if step == 1_000 { residentAtThousand = residentBytes() }
            }
            let growth = residentBytes() - residentAtThousand
            if growth >= 4 << 20 {
                FileHandle.standardError.write(Data("resident memory grew by \(growth / 1024) KiB over 9,000 steps\n".utf8))
                exit(1)
            }
        }
        if let result, result.exitStatus != .exitCode(0) {
            Issue.record("\(String(decoding: result.standardErrorContent, as: UTF8.self))")
        }
    }
}

/// w += delta through the storage (what an optimizer does).
func addInPlaceForTest(_ w: Tensor, _ delta: Tensor) {
    let d = delta.scalars
    for i in 0..<w.count { w.storage.pointer[w.offset + i] += d[i] }
}

/// This process's resident set size, from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

extension Thread {
    /// Runs `body` on a new thread and returns its result.
    static func detachNewThreadAndWait<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: T?
        Thread.detachNewThread {
            result = body()
            done.signal()
        }
        done.wait()
        return result!
    }
}

/// A graph that is built but never backpropagated (evaluation without noGrad, an exception
/// mid-step) must be freed with its last tensor: no backward closure may hold its own output.
@Suite struct GraphLifetime {
    static let ops: [(String, @Sendable (Tensor) -> Tensor)] = [
        ("exp", { $0.exp() }), ("sqrt", { ($0 * $0 + 1).sqrt() }), ("pow", { ($0 * $0 + 1).pow(Tensor(scalar: 1.5)) }),
        ("rdiv", { 1 / ($0 * $0 + 1) }), ("sigmoid", { sigmoid($0) }), ("tanh", { tanh($0) }),
        ("softmax", { softmax($0, axis: 1) }), ("logSoftmax", { logSoftmax($0, axis: 1) }),
        ("layerNorm", { layerNorm($0, normalizedShape: [5], weight: nil, bias: nil) }),
        ("recurrentLayer", { x in
            recurrentLayer(.lstm, input: x.reshaped([4, 1, 5]), hidden: Tensor.zeros([1, 2]), cell: Tensor.zeros([1, 2]),
                           weightIH: Tensor.ones([8, 5]), weightHH: Tensor.ones([8, 2]), biasIH: nil, biasHH: nil).output
        }),
    ]

    @Test(arguments: ops.map(\.0))
    func outputIsFreedWithoutBackward(_ name: String) {
        let op = Self.ops.first { $0.0 == name }!.1
        let x = Tensor.randn([4, 5], generator: Generator(seed: 1)).requiringGrad()
        weak var output: Tensor?
        do {
            let y = op(x)
            #expect(y.requiresGrad)
            output = y
        }
        #expect(output == nil, "\(name): the output outlives its last reference (a reference cycle through its backward)")
    }
}
