import Galen

/// What every learning-rate schedule offers. `LRScheduler` subclasses advance with `step()`
/// (after `optimizer.step()`, once per epoch or batch as the schedule intends);
/// `ReduceLROnPlateau` advances with `step(metric:)`.
public protocol LearningRateScheduler: AnyObject {
    /// The optimizer whose groups' learning rates the schedule sets.
    var optimizer: Optimizer { get }
    /// Each group's learning rate after the latest step (PyTorch's `get_last_lr()`).
    var learningRates: [Double] { get }
    /// How many steps the schedule has taken (PyTorch's `last_epoch`).
    var lastEpoch: Int { get }
    /// The schedule's progress, for resuming with `load(stateDict:)`.
    func stateDict() -> SchedulerStateDict
    /// Restores progress saved by a schedule of the same kind and configuration over an optimizer
    /// with as many groups. Load the optimizer's own state dict too: it holds the learning rates.
    func load(stateDict: SchedulerStateDict) throws
}

/// A schedule's saved progress: named lists of numbers (a scalar is a one-element list), under
/// PyTorch's attribute names ("last_epoch", "base_lrs", "_last_lr", "T_cur", …).
public struct SchedulerStateDict: Equatable, Sendable {
    /// The schedule that wrote it ("StepLR", …).
    public var scheduler: String
    /// The saved values by name.
    public var values: [String: [Double]]

    /// A state written by `scheduler`.
    public init(scheduler: String, values: [String: [Double]]) {
        self.scheduler = scheduler
        self.values = values
    }

    /// The state as string metadata (for a safetensors header): `{prefix}scheduler` and
    /// `{prefix}{name}` = comma-separated numbers in Swift's shortest round-trip form.
    public func metadata(prefix: String = "scheduler.") -> [String: String] {
        var metadata = ["\(prefix)scheduler": scheduler]
        for (name, list) in values {
            metadata[prefix + name] = list.map { "\($0)" }.joined(separator: ",")
        }
        return metadata
    }

    /// Rebuilds the state from `metadata(prefix:)`'s output, ignoring keys without `prefix`.
    public init(metadata: [String: String], prefix: String = "scheduler.") throws {
        guard let scheduler = metadata["\(prefix)scheduler"] else {
            throw OptimizerStateError(key: "\(prefix)scheduler", "is missing")
        }
        var values: [String: [Double]] = [:]
        for (key, text) in metadata where key.hasPrefix(prefix) && key != "\(prefix)scheduler" {
            let parts = text.isEmpty ? [] : text.split(separator: ",", omittingEmptySubsequences: false)
            let numbers = parts.compactMap { Double($0) }
            guard numbers.count == parts.count else {
                throw OptimizerStateError(key: key, "expected comma-separated numbers, found '\(text)'")
            }
            values[String(key.dropFirst(prefix.count))] = numbers
        }
        self.init(scheduler: scheduler, values: values)
    }

    /// The one number saved under `name`.
    public func scalar(_ name: String) throws -> Double {
        guard let list = values[name] else { throw OptimizerStateError(key: name, "is missing") }
        guard list.count == 1 else { throw OptimizerStateError(key: name, "holds \(list.count) numbers, expected 1") }
        return list[0]
    }

    /// The whole number saved under `name`.
    public func integer(_ name: String) throws -> Int {
        let value = try scalar(name)
        guard let integer = Int(exactly: value) else {
            throw OptimizerStateError(key: name, "expected an integer, found \(value)")
        }
        return integer
    }

    /// The `count` numbers saved under `name`.
    public func list(_ name: String, count: Int) throws -> [Double] {
        guard let list = values[name] else { throw OptimizerStateError(key: name, "is missing") }
        guard list.count == count else {
            throw OptimizerStateError(key: name, "holds \(list.count) numbers, the optimizer has \(count) parameter groups")
        }
        return list
    }

    /// Throws unless the state was written by `scheduler`.
    func expect(_ scheduler: String) throws {
        if self.scheduler != scheduler {
            throw OptimizerStateError(key: "scheduler", "saved by \(self.scheduler), cannot be loaded into \(scheduler)")
        }
    }
}

/// The base of the epoch-driven schedules (PyTorch's `torch.optim.lr_scheduler.LRScheduler`).
///
/// Creating a schedule records each group's starting rate as `initial_lr` (unless an earlier
/// schedule did) and takes a first step to epoch 0. Each `step()` advances `lastEpoch` and sets
/// every group's learning rate from `computeLearningRates()`, which uses PyTorch's recursive
/// ("chainable") forms: most schedules scale the group's current rate, so schedules stacked on
/// one optimizer compose as they do in PyTorch.
open class LRScheduler: LearningRateScheduler {
    /// The optimizer whose groups' learning rates the schedule sets.
    public let optimizer: Optimizer
    /// Each group's `initial_lr`: where the schedule starts.
    public internal(set) var baseLearningRates: [Double]
    /// Steps taken since creation (0 after the first step, taken at creation).
    public internal(set) var lastEpoch: Int = -1
    /// Each group's learning rate after the latest step.
    public internal(set) var learningRates: [Double] = []
    /// How many times `step()` ran, counting the one at creation (PyTorch's `_step_count`).
    public internal(set) var stepCount = 0
    /// True during the step taken at creation, where most schedules keep the current rates.
    public internal(set) var isInitialStep = false

    /// Attaches the schedule to `optimizer` and takes the first step.
    public init(optimizer: Optimizer) {
        self.optimizer = optimizer
        for index in optimizer.parameterGroups.indices
        where optimizer.parameterGroups[index][.initialLearningRate] == nil {
            optimizer.parameterGroups[index][.initialLearningRate] = optimizer.parameterGroups[index].learningRate
        }
        baseLearningRates = optimizer.parameterGroups.map { $0.value(.initialLearningRate) }
        isInitialStep = true
        step()
        isInitialStep = false
    }

    /// The schedule's name in state dicts.
    open class var schedulerName: String { String(describing: self) }

    /// Advances one epoch and sets the groups' learning rates.
    open func step() {
        stepCount += 1
        lastEpoch += 1
        setLearningRates(computeLearningRates())
    }

    /// The learning rates for `lastEpoch` (PyTorch's `get_lr`); subclasses implement it.
    open func computeLearningRates() -> [Double] {
        check(false, "\(Self.schedulerName) does not implement computeLearningRates()")
        return currentLearningRates
    }

    /// The groups' learning rates as they are now.
    public var currentLearningRates: [Double] { optimizer.parameterGroups.map(\.learningRate) }

    /// Sets the groups' learning rates and records them in `learningRates`.
    public func setLearningRates(_ rates: [Double]) {
        check(
            rates.count == optimizer.parameterGroups.count,
            "\(Self.schedulerName): \(rates.count) learning rates for \(optimizer.parameterGroups.count) parameter groups")
        for (index, rate) in rates.enumerated() { optimizer.parameterGroups[index].learningRate = rate }
        learningRates = currentLearningRates
    }

    /// The progress shared by all schedules; subclasses add their own entries.
    open func stateDict() -> SchedulerStateDict {
        SchedulerStateDict(scheduler: Self.schedulerName, values: [
            "last_epoch": [Double(lastEpoch)], "_step_count": [Double(stepCount)],
            "base_lrs": baseLearningRates, "_last_lr": learningRates,
        ])
    }

    /// Restores the shared progress; subclasses read their own entries after calling this.
    open func load(stateDict saved: SchedulerStateDict) throws {
        try saved.expect(Self.schedulerName)
        let groups = optimizer.parameterGroups.count
        let epoch = try saved.integer("last_epoch")
        let count = try saved.integer("_step_count")
        let base = try saved.list("base_lrs", count: groups)
        let last = try saved.list("_last_lr", count: groups)
        lastEpoch = epoch
        stepCount = count
        baseLearningRates = base
        learningRates = last
    }
}
