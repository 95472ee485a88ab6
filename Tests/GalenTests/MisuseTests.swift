import Foundation
import Galen
import Testing

/// API misuse stops the process with a message that names the op and the shapes. Each case runs
/// in a child process (an exit test) and its standard error is checked.
@Suite struct Misuse {
    private func expectStop(
        mentioning fragments: [String], sourceLocation: SourceLocation = #_sourceLocation,
        _ result: ExitTest.Result?
    ) {
        guard let result else { return }
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        for fragment in fragments {
            #expect(message.contains(fragment), "stderr lacks '\(fragment)': \(message.prefix(400))", sourceLocation: sourceLocation)
        }
    }

    @Test func broadcastMismatchNamesOpAndShapes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]) + Tensor.zeros([4])
        }
        expectStop(mentioning: ["add", "[2, 3]", "[4]"], result)
    }

    @Test func matmulInnerDimensionMismatch() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = matmul(Tensor.zeros([2, 3]), Tensor.zeros([4, 5]))
        }
        expectStop(mentioning: ["matmul", "[2, 3]", "[4, 5]"], result)
    }

    @Test func axisOutOfRange() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).sum(axis: 2)
        }
        expectStop(mentioning: ["sum", "axis 2", "[2, 3]"], result)
    }

    @Test func reshapeToWrongCount() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).reshaped([4, 2])
        }
        expectStop(mentioning: ["reshape", "[4, 2]", "[2, 3]"], result)
    }

    @Test func backwardTwiceWithoutRetainingTheGraph() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tensor([1, 2]).requiringGrad()
            let y = (x * x).sum()
            y.backward()
            y.backward()
        }
        expectStop(mentioning: ["backward", "already freed", "retainGraph"], result)
    }

    @Test func backwardOnATensorThatNeedsNoGradient() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            Tensor([1, 2]).sum().backward()
        }
        expectStop(mentioning: ["backward", "does not require grad"], result)
    }
}
