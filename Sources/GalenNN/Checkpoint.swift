import Foundation
import Galen

/// A checkpoint problem: the file's state does not fit the model. The message names the file
/// and the key.
public struct CheckpointError: Error, CustomStringConvertible, LocalizedError {
    public let path: String
    public let underlying: Error

    public var description: String { "\(path): \(underlying)" }
    public var errorDescription: String? { description }
}

extension Module {
    /// The state dict as safetensors entries: float32 parameters and buffers, int64 counters.
    public func stateTensors(metadata: [String: String] = [:]) -> SafeTensors {
        let types = stateStoredTypes()
        let entries = stateDict().map { key, value -> (name: String, tensor: SafeTensor) in
            switch types[key] ?? .float32 {
            case .float32: (key, SafeTensor(value))
            case .int64: (key, SafeTensor(value.toInt(), dtype: .i64))
            }
        }
        return SafeTensors(entries, metadata: metadata.merging(["format": "pt"]) { own, _ in own })
    }

    /// Writes the parameters and persistent buffers to a safetensors file that PyTorch loads
    /// with `load_state_dict(safetensors.torch.load_file(path))`. The write is atomic: the file
    /// is complete or untouched.
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        try stateTensors(metadata: metadata).write(to: path)
    }

    /// Loads a safetensors checkpoint written by Galen or by PyTorch (any float dtype converts to
    /// Float32); keys, shapes and (with `strict`) completeness are checked before anything changes.
    public func load(contentsOf path: String, strict: Bool = true) throws {
        let file = try SafeTensors(contentsOf: path)
        try load(safeTensors: file, strict: strict)
    }

    /// Loads state from an already read safetensors file.
    public func load(safeTensors file: SafeTensors, strict: Bool = true) throws {
        var state: [String: Tensor] = [:]
        for name in file.names {
            state[name] = try file.floatTensor(named: name)
        }
        do {
            try load(stateDict: state, strict: strict)
        } catch {
            throw CheckpointError(path: file.source, underlying: error)
        }
    }
}
