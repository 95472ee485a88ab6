import Foundation
import Galen
import Testing

/// One recorded PyTorch run of an op (see Scripts/fixtures/common.py for how they are made).
public struct OpFixture {
    public let name: String
    public let op: String
    public let attrs: Attributes
    public let inputs: [Tensor]
    public let indices: [IntTensor]
    public let output: Tensor
    public let upstream: Tensor
    public let grads: [Tensor?]
    /// False where the op's gradient is by definition not the derivative (embedding's padding row).
    public let finiteDifferences: Bool
}

/// An op's keyword arguments as recorded in a fixture.
public struct Attributes {
    public let values: [String: Any]

    public func int(_ key: String, _ fallback: Int? = nil) -> Int {
        if let v = values[key] as? Int { return v }
        if let v = values[key] as? Double { return Int(v) }
        guard let fallback else { fatalError("fixture attribute \(key) missing") }
        return fallback
    }
    public func float(_ key: String, _ fallback: Float? = nil) -> Float {
        if let v = values[key] as? Double { return Float(v) }
        if let v = values[key] as? Int { return Float(v) }
        guard let fallback else { fatalError("fixture attribute \(key) missing") }
        return fallback
    }
    public func bool(_ key: String, _ fallback: Bool = false) -> Bool { values[key] as? Bool ?? fallback }
    public func string(_ key: String, _ fallback: String = "") -> String { values[key] as? String ?? fallback }
    public func ints(_ key: String) -> [Int] {
        guard let list = values[key] as? [Any] else { fatalError("fixture attribute \(key) missing") }
        return list.map { ($0 as? Int) ?? Int($0 as! Double) }
    }
    public func floats(_ key: String) -> [Float] {
        guard let list = values[key] as? [Any] else { fatalError("fixture attribute \(key) missing") }
        return list.map { Float(($0 as? Double) ?? Double($0 as! Int)) }
    }
    public func has(_ key: String) -> Bool { values[key] != nil && !(values[key] is NSNull) }
}

/// How an op is called in Galen, keyed by the fixture's op name.
public typealias OpFunction = @Sendable (_ inputs: [Tensor], _ indices: [IntTensor], _ attrs: Attributes) -> Tensor

/// A set of fixtures and the Galen functions that replay them.
public struct OpFixtureSuite: @unchecked Sendable {
    public let fixtures: [OpFixture]
    public let registry: [String: OpFunction]

    /// Loads every `ops_*.json` in `directory` (a test bundle's Fixtures folder).
    public init(directory: URL?, registry: [String: OpFunction]) {
        self.registry = registry
        guard let directory,
            let files = try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
        else {
            fixtures = []
            return
        }
        var fixtures: [OpFixture] = []
        for file in files.filter({ $0.lastPathComponent.hasPrefix("ops_") && $0.pathExtension == "json" })
            .sorted(by: { $0.lastPathComponent < $1.lastPathComponent })
        {
            let root = try! JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
            for raw in root["cases"] as! [[String: Any]] { fixtures.append(Self.parse(raw)) }
        }
        self.fixtures = fixtures
    }

    public var names: [String] { fixtures.map(\.name) }
    public var differentiableNames: [String] {
        fixtures.filter { $0.finiteDifferences && $0.grads.contains { $0 != nil } }.map(\.name)
    }

    private static func tensor(_ raw: Any) -> Tensor {
        let object = raw as! [String: Any]
        let shape = object["shape"] as! [Int]
        let data = (object["data"] as! [Any]).map { Float(($0 as? Double) ?? Double($0 as! Int)) }
        return Tensor(data, shape: shape)
    }

    private static func parse(_ raw: [String: Any]) -> OpFixture {
        OpFixture(
            name: raw["name"] as! String,
            op: raw["op"] as! String,
            attrs: Attributes(values: raw["attrs"] as? [String: Any] ?? [:]),
            inputs: (raw["inputs"] as! [Any]).map(tensor),
            indices: (raw["indices"] as! [[String: Any]]).map {
                IntTensor($0["data"] as! [Int], shape: $0["shape"] as! [Int])
            },
            output: tensor(raw["output"]!),
            upstream: tensor(raw["upstream"]!),
            grads: (raw["grads"] as! [Any]).map { $0 is NSNull ? nil : tensor($0) },
            finiteDifferences: raw["finite_differences"] as? Bool ?? true)
    }

    private func fixture(named name: String) -> OpFixture { fixtures.first { $0.name == name }! }

    /// Fresh copies of the fixture's inputs; those with a recorded gradient require grad.
    private func leafInputs(_ fixture: OpFixture) -> [Tensor] {
        zip(fixture.inputs, fixture.grads).map { input, grad in input.copy().requiringGrad(grad != nil) }
    }

    private func call(_ fixture: OpFixture, _ inputs: [Tensor]) -> Tensor {
        guard let function = registry[fixture.op] else {
            Issue.record("no Galen function registered for op \(fixture.op)")
            return Tensor.zeros([0])
        }
        return function(inputs, fixture.indices, fixture.attrs)
    }

    /// Checks Galen's output and input gradients against PyTorch's for one fixture, elementwise
    /// within `atol + rtol·|torch|`.
    public func checkParity(
        _ name: String, rtol: Float = parityRelativeTolerance, atol: Float = parityAbsoluteTolerance,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let fixture = fixture(named: name)
        let inputs = leafInputs(fixture)
        let output = call(fixture, inputs)
        try #require(
            output.shape == fixture.output.shape, "\(name): output shape \(output.shape) vs PyTorch \(fixture.output.shape)",
            sourceLocation: sourceLocation)
        let outputRatio = toleranceRatio(output, fixture.output, rtol: rtol, atol: atol)
        #expect(outputRatio <= 1, "\(name): output differs from PyTorch (error/tolerance = \(outputRatio))", sourceLocation: sourceLocation)
        guard fixture.grads.contains(where: { $0 != nil }) else { return }
        output.backward(fixture.upstream)
        for (index, (input, expected)) in zip(inputs, fixture.grads).enumerated() {
            guard let expected else { continue }
            let actual = try #require(input.grad, "\(name): input \(index) received no gradient", sourceLocation: sourceLocation)
            try #require(actual.shape == expected.shape, sourceLocation: sourceLocation)
            let ratio = toleranceRatio(actual, expected, rtol: rtol, atol: atol)
            #expect(
                ratio <= 1, "\(name): gradient of input \(index) differs from PyTorch (error/tolerance = \(ratio))",
                sourceLocation: sourceLocation)
        }
    }

    /// Checks Galen's analytic gradient of sum(op(x) · upstream) against central differences on up
    /// to 16 elements of each input (spread over the tensor, always including the first and last).
    public func checkFiniteDifferences(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fixture = fixture(named: name)
        let inputs = leafInputs(fixture)
        call(fixture, inputs).backward(fixture.upstream)
        let upstream = fixture.upstream.scalars
        let epsilon: Float = 1e-3
        func objective(_ perturbed: [Tensor]) -> Double {
            let out = noGrad { call(fixture, perturbed) }.scalars
            var total = 0.0
            for i in 0..<out.count { total += Double(out[i]) * Double(upstream[i]) }
            return total
        }
        for (index, input) in inputs.enumerated() where fixture.grads[index] != nil {
            let analytic = try #require(input.grad, sourceLocation: sourceLocation).scalars
            let n = input.count
            let probes = Set((0..<min(n, 16)).map { n <= 16 ? $0 : $0 * (n - 1) / 15 })
            for position in probes.sorted() {
                var perturbed = inputs.map { $0.copy() }
                let original = perturbed[index].storage.pointer[position]
                perturbed[index].storage.pointer[position] = original + epsilon
                let plus = objective(perturbed)
                perturbed = inputs.map { $0.copy() }
                perturbed[index].storage.pointer[position] = original - epsilon
                let minus = objective(perturbed)
                let numeric = Float((plus - minus) / (2 * Double(epsilon)))
                let tolerance = 2e-2 + 2e-2 * abs(analytic[position])
                #expect(
                    abs(numeric - analytic[position]) <= tolerance,
                    "\(name): input \(index)[\(position)] analytic \(analytic[position]) vs numeric \(numeric)",
                    sourceLocation: sourceLocation)
            }
        }
    }
}

// Float32 Galen against a float64 PyTorch reference on float32 inputs. A wrongly reduced
// broadcast gradient is off by a factor of the broadcast size, orders beyond these bounds.
public let parityRelativeTolerance: Float = 1e-4
public let parityAbsoluteTolerance: Float = 1e-5

/// Largest |a - b| / (atol + rtol·|b|) over the elements; ≤ 1 means within tolerance.
public func toleranceRatio(_ actual: Tensor, _ expected: Tensor, rtol: Float, atol: Float) -> Float {
    var worst: Float = 0
    for (a, b) in zip(actual.scalars, expected.scalars) {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN ? worst : .infinity }
        worst = max(worst, abs(a - b) / (atol + rtol * abs(b)))
    }
    return worst
}
