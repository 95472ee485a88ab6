import Foundation
import Galen
import GalenTestSupport
import Testing

/// The core ops' PyTorch fixtures (Fixtures/ops_*.json), replayed through `OpRegistry`.
let coreSuite = OpFixtureSuite(
    directory: Bundle.module.url(forResource: "Fixtures", withExtension: nil),
    registry: OpRegistry.core.merging(OpRegistry.spatial) { first, _ in first })

@Suite struct PyTorchParity {
    @Test(arguments: coreSuite.names)
    func forwardAndBackwardMatchPyTorch(_ name: String) throws { try coreSuite.checkParity(name) }
}

@Suite struct FiniteDifferences {
    @Test(arguments: coreSuite.differentiableNames)
    func analyticGradientMatchesCentralDifferences(_ name: String) throws { try coreSuite.checkFiniteDifferences(name) }
}
