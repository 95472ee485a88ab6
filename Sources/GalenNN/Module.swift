import Foundation
import Galen

/// State of a module that is saved and loaded but not trained: batch-norm running statistics,
/// step counters, fixed encodings.
public final class Buffer {
    /// How a buffer is stored in a checkpoint.
    public enum StoredType: Sendable {
        case float32
        /// Saved as int64, like PyTorch's `num_batches_tracked`.
        case int64
    }

    /// The current value. Modules replace or update it in place during training.
    public var value: Tensor
    /// Whether the buffer is part of the state dict (PyTorch's `persistent`).
    public let persistent: Bool
    /// The dtype it is saved with.
    public let storedType: StoredType

    public init(_ value: Tensor, persistent: Bool = true, storedAs storedType: StoredType = .float32) {
        self.value = value
        self.persistent = persistent
        self.storedType = storedType
    }
}

/// A layer that draws random numbers in training (dropout masks) from a generator of its own.
/// Trainers find these generators through this protocol, save their states in checkpoints and
/// restore them on resume, so a resumed run draws the same masks as an uninterrupted one.
public protocol DrawsRandomNumbers: AnyObject {
    var generator: Generator { get }
}

/// Errors from loading state into a module; each names the key at fault.
public enum StateDictError: Error, CustomStringConvertible, Equatable {
    case missingKeys([String])
    case unexpectedKeys([String])
    case shapeMismatch(key: String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .missingKeys(let keys): "state dict is missing keys: \(keys.joined(separator: ", "))"
        case .unexpectedKeys(let keys): "state dict has unexpected keys: \(keys.joined(separator: ", "))"
        case .shapeMismatch(let key, let expected, let found):
            "state dict key \(key) has shape \(found), but the model expects \(expected)"
        }
    }
}

/// The base class of layers and models (PyTorch's `nn.Module`).
///
/// A model is a plain class: stored properties of type `Tensor` (or `Tensor?`) are its
/// parameters, `Buffer` properties its buffers, and `Module` (or `[Module]`) properties its
/// children, all found by reflection. Keys follow PyTorch's `state_dict`: property names in
/// snake_case (`runningMean` → `running_mean`), children joined with dots, array elements by
/// index (`layers.0.weight`). Override `namedOwnParameters`/`namedOwnBuffers`/`namedChildren` where a
/// layer needs other names (e.g. RNN weights).
open class Module {
    /// Whether the module is in training mode (dropout active, batch norm using batch statistics).
    public private(set) var isTraining = true

    public init() {}

    // MARK: Reflection

    private var reflectedProperties: [(String, Any)] {
        var properties: [(String, Any)] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        var levels: [[(String, Any)]] = []
        while let current = mirror {
            levels.append(current.children.compactMap { child in
                guard var label = child.label else { return nil }
                // Property wrappers and lazy storage appear with a prefix.
                if label.hasPrefix("$__lazy_storage_$_") { label.removeFirst("$__lazy_storage_$_".count) }
                if label.hasPrefix("_") { label.removeFirst() }
                return (label, child.value)
            })
            mirror = current.superclassMirror
        }
        // Base-class properties first, as PyTorch registers them in __init__ order.
        for level in levels.reversed() { properties += level }
        return properties
    }

    /// This module's own parameters (not its children's), in declaration order.
    open func namedOwnParameters() -> [(String, Tensor)] {
        var result: [(String, Tensor)] = []
        for (label, value) in reflectedProperties {
            if let tensor = value as? Tensor {
                result.append((Module.stateKey(label), tensor))
            } else if let tensors = value as? [Tensor] {
                for (i, tensor) in tensors.enumerated() { result.append(("\(Module.stateKey(label)).\(i)", tensor)) }
            }
        }
        return result
    }

    /// This module's own buffers, in declaration order.
    open func namedOwnBuffers() -> [(String, Buffer)] {
        reflectedProperties.compactMap { label, value in
            (value as? Buffer).map { (Module.stateKey(label), $0) }
        }
    }

    /// The direct children, in declaration order.
    open func namedChildren() -> [(String, Module)] {
        var result: [(String, Module)] = []
        for (label, value) in reflectedProperties {
            if let module = value as? Module {
                result.append((Module.stateKey(label), module))
            } else if let modules = value as? [Module] {
                for (i, module) in modules.enumerated() { result.append(("\(Module.stateKey(label)).\(i)", module)) }
            }
        }
        return result
    }

    /// camelCase → snake_case, the convention of PyTorch's state-dict keys.
    public static func stateKey(_ propertyName: String) -> String {
        var key = ""
        for character in propertyName {
            if character.isUppercase {
                if !key.isEmpty { key.append("_") }
                key.append(contentsOf: character.lowercased())
            } else {
                key.append(character)
            }
        }
        return key
    }

    // MARK: Traversal

    /// This module and all its descendants with their dotted names ("" for self), pre-order.
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var result: [(String, Module)] = [(prefix, self)]
        for (name, child) in namedChildren() {
            result += child.namedModules(prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
        }
        return result
    }

    /// All parameters with their state-dict keys, each tensor once.
    public func namedParameters() -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        var result: [(String, Tensor)] = []
        for (prefix, module) in namedModules() {
            for (name, tensor) in module.namedOwnParameters() where seen.insert(ObjectIdentifier(tensor)).inserted {
                result.append((prefix.isEmpty ? name : "\(prefix).\(name)", tensor))
            }
        }
        return result
    }

    /// All parameters, each once (what an optimizer takes).
    public func parameters() -> [Tensor] { namedParameters().map(\.1) }

    /// All buffers with their keys.
    public func namedBuffers() -> [(String, Buffer)] {
        namedModules().flatMap { prefix, module in
            module.namedOwnBuffers().map { (prefix.isEmpty ? $0.0 : "\(prefix).\($0.0)", $0.1) }
        }
    }

    /// Number of parameter elements (trainable only when `trainableOnly`).
    public func parameterCount(trainableOnly: Bool = false) -> Int {
        parameters().filter { !trainableOnly || $0.requiresGrad }.reduce(0) { $0 + $1.count }
    }

    /// Calls `body` on every module in the tree, children first (PyTorch's `apply`).
    public func apply(_ body: (Module) -> Void) {
        for (_, child) in namedChildren() { child.apply(body) }
        body(self)
    }

    // MARK: Modes

    /// Puts the module tree in training (`true`) or evaluation mode.
    public func train(_ mode: Bool = true) {
        for (_, module) in namedModules() { module.isTraining = mode }
    }

    /// Puts the module tree in evaluation mode: dropout off, batch norm on running statistics.
    public func eval() { train(false) }

    /// Stops (or restarts) gradient computation for every parameter, e.g. a frozen backbone.
    public func requiresGrad(_ flag: Bool) {
        for parameter in parameters() { parameter.requiresGrad = flag }
    }

    /// Sets every parameter's gradient to nil.
    public func zeroGrad() {
        for parameter in parameters() { parameter.zeroGrad() }
    }

    // MARK: State

    /// Parameters and persistent buffers by state-dict key, in PyTorch's order.
    public func stateDict() -> [(key: String, value: Tensor)] {
        var result: [(key: String, value: Tensor)] = []
        for (prefix, module) in namedModules() {
            let dot = prefix.isEmpty ? "" : "\(prefix)."
            for (name, tensor) in module.namedOwnParameters() { result.append((dot + name, tensor)) }
            for (name, buffer) in module.namedOwnBuffers() where buffer.persistent {
                result.append((dot + name, buffer.value))
            }
        }
        return result
    }

    /// How each state-dict entry is saved (int64 for counters, float32 otherwise).
    public func stateStoredTypes() -> [String: Buffer.StoredType] {
        var types: [String: Buffer.StoredType] = [:]
        for (key, buffer) in namedBuffers() where buffer.persistent { types[key] = buffer.storedType }
        return types
    }

    /// Copies `state` into the parameters and buffers (in place, so optimizers keep their
    /// references). With `strict`, missing or unexpected keys are errors; shapes must always match.
    public func load(stateDict state: [String: Tensor], strict: Bool = true) throws {
        let own = stateDict()
        let ownKeys = Set(own.map(\.key))
        if strict {
            let missing = own.map(\.key).filter { state[$0] == nil }
            if !missing.isEmpty { throw StateDictError.missingKeys(missing) }
            let unexpected = state.keys.filter { !ownKeys.contains($0) }.sorted()
            if !unexpected.isEmpty { throw StateDictError.unexpectedKeys(unexpected) }
        }
        for (key, target) in own {
            guard let source = state[key] else { continue }
            guard source.shape == target.shape else {
                throw StateDictError.shapeMismatch(key: key, expected: target.shape, found: source.shape)
            }
        }
        noGrad {
            for (key, target) in own {
                guard let source = state[key] else { continue }
                target.assign(source)
            }
        }
    }
}
