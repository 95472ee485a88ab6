import Galen

/// A saved optimizer or schedule state that does not fit the object it is loaded into, or a
/// flattened state dict that is malformed; `key` names the entry at fault. (GalenNN's
/// `StateDictError` is the model's counterpart.)
public struct OptimizerStateError: Error, CustomStringConvertible, Equatable {
    /// The state-dict key at fault ("param_groups.1.params", "state.3.exp_avg", …).
    public let key: String
    /// What is wrong with it.
    public let message: String

    /// An error about the entry `key`.
    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "state dict entry '\(key)': \(message)" }
}

/// An optimizer's state for resuming training: PyTorch's `optimizer.state_dict()`.
///
/// Parameters are numbered across groups in order (group 0's parameters first), as PyTorch does;
/// the state holds copies, so later steps do not change a saved state dict.
public struct OptimizerStateDict {
    /// One parameter group as saved: its hyperparameters and the numbers of its parameters.
    public struct Group: Equatable {
        /// The group's hyperparameters.
        public var hyperparameters: [Hyperparameter: Double]
        /// The numbers of the group's parameters.
        public var parameterIndices: [Int]

        /// A saved group.
        public init(hyperparameters: [Hyperparameter: Double], parameterIndices: [Int]) {
            self.hyperparameters = hyperparameters
            self.parameterIndices = parameterIndices
        }
    }

    /// The algorithm that wrote it ("SGD", "Adam", …).
    public var optimizer: String
    /// Per-parameter state by parameter number; parameters that never stepped have none.
    public var state: [Int: ParameterState]
    /// The parameter groups.
    public var parameterGroups: [Group]

    /// A state dict from its parts.
    public init(optimizer: String, state: [Int: ParameterState], parameterGroups: [Group]) {
        self.optimizer = optimizer
        self.state = state
        self.parameterGroups = parameterGroups
    }
}

extension Optimizer {
    /// The optimizer's state (copies of its buffers) and hyperparameters, for `load(stateDict:)`.
    public func stateDict() -> OptimizerStateDict {
        var savedState: [Int: ParameterState] = [:]
        var groups: [OptimizerStateDict.Group] = []
        var index = 0
        for group in parameterGroups {
            var indices: [Int] = []
            for parameter in group.parameters {
                if let entry = state[ObjectIdentifier(parameter)] {
                    savedState[index] = ParameterState(
                        step: entry.step, buffers: entry.buffers.mapValues { $0.copy() })
                }
                indices.append(index)
                index += 1
            }
            groups.append(OptimizerStateDict.Group(hyperparameters: group.hyperparameters, parameterIndices: indices))
        }
        return OptimizerStateDict(optimizer: Self.algorithmName, state: savedState, parameterGroups: groups)
    }

    /// Restores state saved by `stateDict()` from an optimizer of the same kind over parameters of
    /// the same shapes in the same groups: copies the buffers and step counts and replaces every
    /// group's hyperparameters with the saved ones (as PyTorch's `load_state_dict`). Throws,
    /// changing nothing, when the saved state does not fit.
    public func load(stateDict saved: OptimizerStateDict) throws {
        if saved.optimizer != Self.algorithmName {
            throw OptimizerStateError(
                key: "optimizer", "saved by \(saved.optimizer), cannot be loaded into \(Self.algorithmName)")
        }
        if saved.parameterGroups.count != parameterGroups.count {
            throw OptimizerStateError(
                key: "param_groups",
                "has \(saved.parameterGroups.count) parameter groups, the optimizer has \(parameterGroups.count)")
        }
        var parameterForIndex: [Int: Tensor] = [:]
        var groupForIndex: [Int: Int] = [:]
        for (groupIndex, (savedGroup, group)) in zip(saved.parameterGroups, parameterGroups).enumerated() {
            if savedGroup.parameterIndices.count != group.parameters.count {
                throw OptimizerStateError(
                    key: "param_groups.\(groupIndex).params",
                    "has \(savedGroup.parameterIndices.count) parameters, the optimizer's group has \(group.parameters.count)")
            }
            for (index, parameter) in zip(savedGroup.parameterIndices, group.parameters) {
                if parameterForIndex.updateValue(parameter, forKey: index) != nil {
                    throw OptimizerStateError(key: "param_groups.\(groupIndex).params", "lists parameter \(index) twice")
                }
                groupForIndex[index] = groupIndex
            }
        }
        var loaded: [ObjectIdentifier: ParameterState] = [:]
        // Sorted, so that of several faults the same one is reported every time.
        for (index, entry) in saved.state.sorted(by: { $0.key < $1.key }) {
            guard let parameter = parameterForIndex[index], let groupIndex = groupForIndex[index] else {
                throw OptimizerStateError(key: "state.\(index)", "belongs to no parameter of any group")
            }
            let required = requiredStateKeys(for: saved.parameterGroups[groupIndex].hyperparameters)
            if let missing = required.first(where: { $0 == "step" ? entry.step == nil : entry.buffers[$0] == nil }) {
                throw OptimizerStateError(key: "state.\(index).\(missing)", "is missing")
            }
            for (name, buffer) in entry.buffers.sorted(by: { $0.key < $1.key }) where buffer.shape != parameter.shape {
                throw OptimizerStateError(
                    key: "state.\(index).\(name)",
                    "has shape \(buffer.shape), its parameter has shape \(parameter.shape)")
            }
            loaded[ObjectIdentifier(parameter)] = ParameterState(
                step: entry.step, buffers: entry.buffers.mapValues { $0.copy() })
        }
        // Everything fits: commit.
        state = loaded
        for (groupIndex, savedGroup) in saved.parameterGroups.enumerated() {
            parameterGroups[groupIndex].hyperparameters = savedGroup.hyperparameters
        }
    }
}

// MARK: Flat form (safetensors)

extension OptimizerStateDict {
    /// The state dict as named tensors plus string metadata, for a safetensors file.
    ///
    /// Tensors: `{prefix}state.{i}.{buffer}`. Metadata: `{prefix}optimizer`,
    /// `{prefix}state.{i}.step`, `{prefix}param_groups.{g}.params` ("0,1,2") and
    /// `{prefix}param_groups.{g}.{hyperparameter}`. Numbers are written in Swift's shortest
    /// round-trip form, so `init(tensors:metadata:prefix:)` restores the same bits.
    public func flattened(prefix: String = "") -> (tensors: [String: Tensor], metadata: [String: String]) {
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = ["\(prefix)optimizer": optimizer]
        for (index, entry) in state {
            if let step = entry.step { metadata["\(prefix)state.\(index).step"] = String(step) }
            for (name, buffer) in entry.buffers { tensors["\(prefix)state.\(index).\(name)"] = buffer }
        }
        for (groupIndex, group) in parameterGroups.enumerated() {
            let base = "\(prefix)param_groups.\(groupIndex)."
            metadata[base + "params"] = group.parameterIndices.map(String.init).joined(separator: ",")
            for (key, value) in group.hyperparameters { metadata[base + key.rawValue] = "\(value)" }
        }
        return (tensors, metadata)
    }

    /// Rebuilds a state dict from `flattened(prefix:)`'s output; entries without `prefix`, or
    /// outside "optimizer", "state." and "param_groups.", are ignored (a checkpoint also holds the
    /// model's weights). Throws naming the key of a malformed or missing entry.
    public init(tensors: [String: Tensor], metadata: [String: String], prefix: String = "") throws {
        guard let optimizer = metadata["\(prefix)optimizer"] else {
            throw OptimizerStateError(key: "\(prefix)optimizer", "is missing")
        }
        var state: [Int: ParameterState] = [:]
        var groupValues: [Int: [Hyperparameter: Double]] = [:]
        var groupIndices: [Int: [Int]] = [:]

        /// Splits `{prefix}{root}.{index}.{name}`; nil for keys of other roots.
        func parse(_ key: String, root: String) throws -> (index: Int, name: String)? {
            guard key.hasPrefix(prefix + root + ".") else { return nil }
            let rest = key.dropFirst(prefix.count + root.count + 1)
            guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]), index >= 0,
                !rest[rest.index(after: dot)...].isEmpty
            else {
                throw OptimizerStateError(key: key, "expected \(prefix)\(root).<number>.<name>")
            }
            return (index, String(rest[rest.index(after: dot)...]))
        }

        for (key, tensor) in tensors {
            guard let (index, name) = try parse(key, root: "state") else { continue }
            state[index, default: ParameterState()].buffers[name] = tensor.copy()
        }
        for (key, text) in metadata {
            if let (index, name) = try parse(key, root: "state") {
                guard name == "step", let step = Int(text), step >= 0 else {
                    throw OptimizerStateError(key: key, "expected a step count, found '\(text)'")
                }
                state[index, default: ParameterState()].step = step
            } else if let (index, name) = try parse(key, root: "param_groups") {
                if name == "params" {
                    let parts = text.isEmpty ? [] : text.split(separator: ",", omittingEmptySubsequences: false)
                    let indices = parts.compactMap { Int($0) }
                    guard indices.count == parts.count else {
                        throw OptimizerStateError(key: key, "expected comma-separated parameter numbers, found '\(text)'")
                    }
                    groupIndices[index] = indices
                } else {
                    guard let value = Double(text) else {
                        throw OptimizerStateError(key: key, "expected a number, found '\(text)'")
                    }
                    groupValues[index, default: [:]][Hyperparameter(name)] = value
                }
            }
        }
        let groupCount = (Set(groupIndices.keys).union(groupValues.keys).max() ?? -1) + 1
        var groups: [Group] = []
        for index in 0..<groupCount {
            guard let indices = groupIndices[index] else {
                throw OptimizerStateError(key: "\(prefix)param_groups.\(index).params", "is missing")
            }
            groups.append(Group(hyperparameters: groupValues[index] ?? [:], parameterIndices: indices))
        }
        self.init(optimizer: optimizer, state: state, parameterGroups: groups)
    }
}
