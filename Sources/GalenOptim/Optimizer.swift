import Galen

/// The name of an optimizer or schedule hyperparameter held by a `ParameterGroup`.
///
/// Raw values are PyTorch's `param_group` keys ("lr", "weight_decay", …), which is also how they
/// are written into state dicts. Flags (nesterov, amsgrad, …) are stored as 0 or 1.
public struct Hyperparameter: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// PyTorch's key.
    public let rawValue: String
    /// The hyperparameter with PyTorch key `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The hyperparameter with PyTorch key `rawValue`.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func < (a: Hyperparameter, b: Hyperparameter) -> Bool { a.rawValue < b.rawValue }

    /// The step size (`lr`).
    public static let learningRate = Hyperparameter("lr")
    /// L2 penalty added to the gradient (Adam, SGD, …) or decoupled decay (AdamW).
    public static let weightDecay = Hyperparameter("weight_decay")
    /// Momentum factor (SGD, RMSprop); OneCycleLR cycles it.
    public static let momentum = Hyperparameter("momentum")
    /// Dampening for momentum (SGD).
    public static let dampening = Hyperparameter("dampening")
    /// Flag: Nesterov momentum (SGD).
    public static let nesterov = Hyperparameter("nesterov")
    /// Flag: ascend the objective instead of descending it.
    public static let maximize = Hyperparameter("maximize")
    /// Learning-rate decay per step (Adagrad).
    public static let lrDecay = Hyperparameter("lr_decay")
    /// Starting value of the squared-gradient sums (Adagrad).
    public static let initialAccumulatorValue = Hyperparameter("initial_accumulator_value")
    /// Term added to denominators for numerical stability.
    public static let eps = Hyperparameter("eps")
    /// Smoothing constant of the squared-gradient average (RMSprop).
    public static let alpha = Hyperparameter("alpha")
    /// Flag: normalize by the estimated variance of the gradient (RMSprop).
    public static let centered = Hyperparameter("centered")
    /// First-moment decay (Adam's `betas[0]`); OneCycleLR cycles it.
    public static let beta1 = Hyperparameter("beta1")
    /// Second-moment decay (Adam's `betas[1]`).
    public static let beta2 = Hyperparameter("beta2")
    /// Flag: the AMSGrad variant (Adam, AdamW).
    public static let amsgrad = Hyperparameter("amsgrad")

    /// The learning rate a schedule started from (written by the first scheduler attached).
    public static let initialLearningRate = Hyperparameter("initial_lr")
    /// OneCycleLR's peak learning rate.
    public static let maxLearningRate = Hyperparameter("max_lr")
    /// OneCycleLR's final learning rate.
    public static let minLearningRate = Hyperparameter("min_lr")
    /// OneCycleLR's highest momentum (or β1).
    public static let maxMomentum = Hyperparameter("max_momentum")
    /// OneCycleLR's lowest momentum (or β1).
    public static let baseMomentum = Hyperparameter("base_momentum")
}

/// Parameters that share hyperparameters, like one of PyTorch's `param_groups`.
///
/// Values a group does not set come from its optimizer's defaults when the group is added. A
/// transfer-learning setup gives the pretrained backbone a slow learning rate and the new head a
/// fast one:
///
/// ```swift
/// let optimizer = SGD([
///     ParameterGroup(backbone.parameters(), learningRate: 1e-4),
///     ParameterGroup(head.parameters(), learningRate: 1e-2),
/// ], momentum: 0.9)
/// ```
public struct ParameterGroup {
    /// The tensors this group updates.
    public var parameters: [Tensor]
    /// Hyperparameters by name; after the group joins an optimizer it holds every one the
    /// algorithm reads (schedules change them between steps).
    public var hyperparameters: [Hyperparameter: Double]

    /// A group of `parameters`; nil values (and hyperparameters not listed) take the optimizer's defaults.
    public init(
        _ parameters: [Tensor], learningRate: Double? = nil, weightDecay: Double? = nil,
        _ hyperparameters: [Hyperparameter: Double] = [:]
    ) {
        self.parameters = parameters
        self.hyperparameters = hyperparameters
        if let learningRate { self.hyperparameters[.learningRate] = learningRate }
        if let weightDecay { self.hyperparameters[.weightDecay] = weightDecay }
    }

    /// A hyperparameter's value, nil when the group does not have it.
    public subscript(_ key: Hyperparameter) -> Double? {
        get { hyperparameters[key] }
        set { hyperparameters[key] = newValue }
    }

    /// The learning rate.
    public var learningRate: Double {
        get { value(.learningRate) }
        set { hyperparameters[.learningRate] = newValue }
    }

    /// The weight decay.
    public var weightDecay: Double {
        get { value(.weightDecay) }
        set { hyperparameters[.weightDecay] = newValue }
    }

    /// A hyperparameter the caller knows the group has (its optimizer put it there).
    public func value(_ key: Hyperparameter) -> Double {
        guard let value = hyperparameters[key] else {
            check(false, "ParameterGroup: no hyperparameter '\(key)' (has \(hyperparameters.keys.sorted()))")
            return .nan
        }
        return value
    }

    /// A flag hyperparameter (stored as 0 or 1).
    public func flag(_ key: Hyperparameter) -> Bool { value(key) != 0 }
}

/// What an optimizer remembers about one parameter between steps: PyTorch's `state[p]`.
public struct ParameterState {
    /// Steps taken on this parameter (Adam, RMSprop, Adagrad; nil for SGD, which does not count).
    public var step: Int?
    /// Buffers by PyTorch's names: "momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq",
    /// "sum", "square_avg", "grad_avg". Each has its parameter's shape.
    public var buffers: [String: Tensor]

    /// State with the given step count and buffers.
    public init(step: Int? = nil, buffers: [String: Tensor] = [:]) {
        self.step = step
        self.buffers = buffers
    }

    /// The buffer `name`, created filled with `initialValue` (in `parameter`'s shape) when absent:
    /// how an algorithm initializes its state lazily at a parameter's first step.
    public mutating func buffer(_ name: String, like parameter: Tensor, initialValue: Float = 0) -> Tensor {
        if let existing = buffers[name] { return existing }
        let created = Tensor.full(parameter.shape, initialValue)
        buffers[name] = created
        return created
    }
}

/// The base of all optimizers: parameter groups, per-parameter state, `zeroGrad`, `step`, and
/// state dicts (PyTorch's `torch.optim.Optimizer`).
///
/// A subclass passes its hyperparameter defaults to `init(_:defaults:)` and overrides `step()`,
/// which updates the parameters in place. Updates run under no grad and skip parameters whose
/// `grad` is nil.
open class Optimizer {
    /// The groups of parameters and their hyperparameters; schedules and users may change the
    /// hyperparameters between steps.
    public var parameterGroups: [ParameterGroup] = []
    /// The hyperparameters a group gets when it does not set them.
    public let defaults: [Hyperparameter: Double]
    /// Per-parameter state, by parameter identity (a parameter is held by its group, so the
    /// identity is never reused while the optimizer lives).
    public var state: [ObjectIdentifier: ParameterState] = [:]

    /// An optimizer over `groups`, filling in `defaults` for the hyperparameters a group does not set.
    public init(_ groups: [ParameterGroup], defaults: [Hyperparameter: Double]) {
        self.defaults = defaults
        check(
            groups.contains { !$0.parameters.isEmpty },
            "\(Self.algorithmName): got an empty parameter list")
        for group in groups { addParameterGroup(group) }
    }

    /// The algorithm's name as state dicts record it ("SGD", "Adam", …).
    open class var algorithmName: String { String(describing: self) }

    /// Adds a group (PyTorch's `add_param_group`), e.g. to unfreeze a backbone part-way through
    /// fine-tuning. Missing hyperparameters come from `defaults`.
    public func addParameterGroup(_ group: ParameterGroup) {
        var group = group
        for (key, value) in defaults where group[key] == nil { group[key] = value }
        var seen = Set(parameterGroups.flatMap { $0.parameters.map(ObjectIdentifier.init) })
        for (index, parameter) in group.parameters.enumerated() {
            check(
                seen.insert(ObjectIdentifier(parameter)).inserted,
                "\(Self.algorithmName): parameter \(index) of group \(parameterGroups.count) (shape \(parameter.shape)) appears in more than one parameter group")
            check(
                parameter.isLeaf,
                "\(Self.algorithmName): parameter \(index) of group \(parameterGroups.count) (shape \(parameter.shape)) is not a leaf tensor; optimize the tensor it was computed from")
            check(
                parameter.isContiguous,
                "\(Self.algorithmName): parameter \(index) of group \(parameterGroups.count) (shape \(parameter.shape)) must be contiguous to be updated in place")
        }
        parameterGroups.append(group)
        didAddParameterGroup(parameterGroups.count - 1)
    }

    /// Called after a group joins; Adagrad creates its accumulators here, as PyTorch does.
    open func didAddParameterGroup(_ index: Int) {}

    /// Sets every parameter's gradient to nil (PyTorch's `zero_grad(set_to_none=True)`).
    public func zeroGrad() {
        for group in parameterGroups {
            for parameter in group.parameters { parameter.grad = nil }
        }
    }

    /// Updates the parameters from their gradients; subclasses implement it.
    open func step() {
        check(false, "\(Self.algorithmName) does not implement step()")
    }

    /// The state buffers (and "step") that a state entry of a parameter in a group with these
    /// hyperparameters must hold; `load(stateDict:)` checks them.
    open func requiredStateKeys(for hyperparameters: [Hyperparameter: Double]) -> [String] { [] }

    /// Calls `body` for every parameter that has a gradient, in group order, with its group, the
    /// gradient (contiguous, the parameter's shape) and its state, which `body` may change.
    public func forEachParameterWithGradient(
        _ body: (_ group: ParameterGroup, _ parameter: Tensor, _ gradient: Tensor, _ state: inout ParameterState) -> Void
    ) {
        for group in parameterGroups {
            for parameter in group.parameters {
                guard let grad = parameter.grad else { continue }
                check(
                    grad.shape == parameter.shape,
                    "\(Self.algorithmName).step: gradient of shape \(grad.shape) does not match its parameter of shape \(parameter.shape)")
                let key = ObjectIdentifier(parameter)
                var parameterState = state.removeValue(forKey: key) ?? ParameterState()
                body(group, parameter, grad.contiguousDetached, &parameterState)
                state[key] = parameterState
            }
        }
    }
}
