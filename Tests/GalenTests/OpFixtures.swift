import Foundation
import Galen

/// One recorded PyTorch run of an op (see Scripts/fixtures/common.py for how they are made).
struct OpFixture {
    let name: String
    let op: String
    let attrs: Attributes
    let inputs: [Tensor]
    let indices: [IntTensor]
    let output: Tensor
    let upstream: Tensor
    let grads: [Tensor?]
}

/// An op's keyword arguments as recorded in a fixture.
struct Attributes {
    let values: [String: Any]

    func int(_ key: String, _ fallback: Int? = nil) -> Int {
        if let v = values[key] as? Int { return v }
        if let v = values[key] as? Double { return Int(v) }
        guard let fallback else { fatalError("fixture attribute \(key) missing") }
        return fallback
    }
    func float(_ key: String, _ fallback: Float? = nil) -> Float {
        if let v = values[key] as? Double { return Float(v) }
        if let v = values[key] as? Int { return Float(v) }
        guard let fallback else { fatalError("fixture attribute \(key) missing") }
        return fallback
    }
    func bool(_ key: String, _ fallback: Bool = false) -> Bool { values[key] as? Bool ?? fallback }
    func string(_ key: String, _ fallback: String = "") -> String { values[key] as? String ?? fallback }
    func ints(_ key: String) -> [Int] {
        guard let list = values[key] as? [Any] else { fatalError("fixture attribute \(key) missing") }
        return list.map { ($0 as? Int) ?? Int($0 as! Double) }
    }
    func has(_ key: String) -> Bool { values[key] != nil && !(values[key] is NSNull) }
}

/// How an op is called in Galen, keyed by the fixture's op name.
typealias OpFunction = @Sendable (_ inputs: [Tensor], _ indices: [IntTensor], _ attrs: Attributes) -> Tensor

enum OpFixtures {
    /// Every fixture file's cases, in file order.
    static func load() throws -> [OpFixture] {
        guard let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw CocoaError(.fileNoSuchFile)
        }
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.lastPathComponent.hasPrefix("ops_") && $0.pathExtension == "json" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        var fixtures: [OpFixture] = []
        for file in files {
            let root = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
            for raw in root["cases"] as! [[String: Any]] {
                fixtures.append(parse(raw))
            }
        }
        return fixtures
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
            grads: (raw["grads"] as! [Any]).map { $0 is NSNull ? nil : tensor($0) })
    }

    /// All registered ops.
    static let registry: [String: OpFunction] = OpRegistry.core.merging(OpRegistry.spatial) { first, _ in first }
}

/// Largest |a - b| / (atol + rtol·|b|) over the elements; ≤ 1 means within tolerance.
func toleranceRatio(_ actual: Tensor, _ expected: Tensor, rtol: Float, atol: Float) -> Float {
    var worst: Float = 0
    for (a, b) in zip(actual.scalars, expected.scalars) {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN ? worst : .infinity }
        worst = max(worst, abs(a - b) / (atol + rtol * abs(b)))
    }
    return worst
}
