import Foundation
import Galen
import GalenOptim

/// Fixtures/optim.json, written by Scripts/fixtures/optim_cases.py from torch.optim.
struct OptimFixture: Decodable, Sendable {
    /// A constructor argument or group override as the fixture wrote it.
    enum Value: Decodable, Sendable {
        case number(Double)
        case flag(Bool)
        case numbers([Double])
        case text(String)

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) {
                self = .flag(flag)
            } else if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else if let numbers = try? container.decode([Double].self) {
                self = .numbers(numbers)
            } else {
                self = .text(try container.decode(String.self))
            }
        }
    }

    struct Options: Decodable, Sendable {
        let values: [String: Value]

        init(from decoder: Decoder) throws {
            values = try decoder.singleValueContainer().decode([String: Value].self)
        }

        func number(_ key: String, _ fallback: Double) -> Double {
            if case .number(let value)? = values[key] { return value }
            return fallback
        }

        func flag(_ key: String, _ fallback: Bool = false) -> Bool {
            if case .flag(let value)? = values[key] { return value }
            return fallback
        }

        func numbers(_ key: String) -> [Double]? {
            switch values[key] {
            case .numbers(let list)?: list
            case .number(let value)?: [value]
            default: nil
            }
        }

        func text(_ key: String, _ fallback: String) -> String {
            if case .text(let value)? = values[key] { return value }
            return fallback
        }
    }

    struct Group: Decodable, Sendable {
        /// Parameter names: "w" and/or "b".
        let params: [String]
        /// Overrides, under PyTorch's keys.
        let options: Options
    }

    struct Step: Decodable, Sendable {
        let w: [Float]
        let b: [Float]
    }

    struct OptimizerCase: Decodable, Sendable {
        let name: String
        let optimizer: String
        let options: Options
        let groups: [Group]
        /// Parameters after each step.
        let steps: [Step]
    }

    struct ScheduleCase: Decodable, Sendable {
        let name: String
        let scheduler: String
        let options: Options
        let optimizer: String
        /// Each group's learning rate after construction and after each step.
        let lrs: [[Double]]
        /// Each group's momentum (SGD) or β1 (Adam), likewise.
        let momentums: [[Double]]
        let metrics: [Double]?
    }

    struct ClipCase: Decodable, Sendable {
        let max_norm: Float
        /// A number, "inf", or nil for clip_grad_value_.
        let norm_type: Value?
        let grads: [[Float]]
        let total_norm: Float?
        let clipped: [[Float]]

        var normType: Float? {
            switch norm_type {
            case .number(let value)?: Float(value)
            case .text("inf")?: .infinity
            default: nil
            }
        }
    }

    struct Problem: Decodable, Sendable {
        let x: [Float], y: [Float], w: [Float], b: [Float]
    }

    let problem: Problem
    let optimizers: [OptimizerCase]
    let schedules: [ScheduleCase]
    let clipping: [ClipCase]

    static let shared: OptimFixture = {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("optim.json")
        return try! JSONDecoder().decode(OptimFixture.self, from: Data(contentsOf: url))
    }()

    func optimizerCase(_ name: String) -> OptimizerCase { optimizers.first { $0.name == name }! }
    func scheduleCase(_ name: String) -> ScheduleCase { schedules.first { $0.name == name }! }

    // MARK: The problem: loss = sum((x @ w + b - y)^2) + 0.1 * sum(w^4)

    /// Fresh parameters at the fixture's starting point.
    func initialParameters() -> (w: Tensor, b: Tensor) {
        (Tensor(problem.w, shape: [3, 4]).requiringGrad(), Tensor(problem.b, shape: [4]).requiringGrad())
    }

    func loss(w: Tensor, b: Tensor) -> Tensor {
        let residual = matmul(Tensor(problem.x, shape: [5, 3]), w) + b - Tensor(problem.y, shape: [5, 4])
        return residual.pow(2).sum() + 0.1 * w.pow(4).sum()
    }

    /// One training step: fresh gradients of the loss, then `optimizer.step()`.
    func trainStep(_ optimizer: Optimizer, w: Tensor, b: Tensor) {
        optimizer.zeroGrad()
        loss(w: w, b: b).backward()
        optimizer.step()
    }

    // MARK: Building the Swift twin of a torch.optim configuration

    static func hyperparameters(_ options: Options) -> [Hyperparameter: Double] {
        var result: [Hyperparameter: Double] = [:]
        for (key, value) in options.values {
            switch value {
            case .number(let number): result[Hyperparameter(rawValue: key)] = number
            case .flag(let flag): result[Hyperparameter(rawValue: key)] = flag ? 1 : 0
            case .numbers(let betas) where key == "betas":
                result[.beta1] = betas[0]
                result[.beta2] = betas[1]
            default: fatalError("unexpected group option \(key)")
            }
        }
        return result
    }

    static func makeOptimizer(_ kind: String, _ groups: [ParameterGroup], _ options: Options) -> Optimizer {
        let o = options
        let betas = o.numbers("betas").map { ($0[0], $0[1]) } ?? (0.9, 0.999)
        switch kind {
        case "SGD":
            return SGD(
                groups, learningRate: o.number("lr", 1e-3), momentum: o.number("momentum", 0),
                dampening: o.number("dampening", 0), weightDecay: o.number("weight_decay", 0),
                nesterov: o.flag("nesterov"), maximize: o.flag("maximize"))
        case "Adagrad":
            return Adagrad(
                groups, learningRate: o.number("lr", 1e-2), lrDecay: o.number("lr_decay", 0),
                weightDecay: o.number("weight_decay", 0),
                initialAccumulatorValue: o.number("initial_accumulator_value", 0), eps: o.number("eps", 1e-10),
                maximize: o.flag("maximize"))
        case "RMSprop":
            return RMSprop(
                groups, learningRate: o.number("lr", 1e-2), alpha: o.number("alpha", 0.99), eps: o.number("eps", 1e-8),
                weightDecay: o.number("weight_decay", 0), momentum: o.number("momentum", 0),
                centered: o.flag("centered"), maximize: o.flag("maximize"))
        case "Adam":
            return Adam(
                groups, learningRate: o.number("lr", 1e-3), betas: betas, eps: o.number("eps", 1e-8),
                weightDecay: o.number("weight_decay", 0), amsgrad: o.flag("amsgrad"), maximize: o.flag("maximize"))
        case "AdamW":
            return AdamW(
                groups, learningRate: o.number("lr", 1e-3), betas: betas, eps: o.number("eps", 1e-8),
                weightDecay: o.number("weight_decay", 1e-2), amsgrad: o.flag("amsgrad"), maximize: o.flag("maximize"))
        default:
            fatalError("unknown optimizer \(kind)")
        }
    }

    /// The case's optimizer over `w` and `b`, grouped as in PyTorch.
    static func makeOptimizer(_ testCase: OptimizerCase, w: Tensor, b: Tensor) -> Optimizer {
        let groups = testCase.groups.map { group in
            var parameterGroup = ParameterGroup(group.params.map { $0 == "w" ? w : b })
            parameterGroup.hyperparameters = hyperparameters(group.options)
            return parameterGroup
        }
        return makeOptimizer(testCase.optimizer, groups, testCase.options)
    }

    /// The optimizer the schedule cases use: two groups at 0.1 and 0.01.
    static func makeScheduleOptimizer(_ kind: String) -> Optimizer {
        let groups = [
            ParameterGroup([Tensor.zeros([3, 4]).requiringGrad()], learningRate: 0.1),
            ParameterGroup([Tensor.zeros([4]).requiringGrad()], learningRate: 0.01),
        ]
        return kind == "SGD" ? SGD(groups, momentum: 0.9) : Adam(groups)
    }

    /// The Swift twin of a torch.optim.lr_scheduler configuration.
    static func makeScheduler(_ testCase: ScheduleCase, _ optimizer: Optimizer) -> any LearningRateScheduler {
        let o = testCase.options
        func integer(_ key: String, _ fallback: Int) -> Int { Int(o.number(key, Double(fallback))) }
        switch testCase.scheduler {
        case "StepLR":
            return StepLR(optimizer: optimizer, stepSize: integer("step_size", 0), gamma: o.number("gamma", 0.1))
        case "MultiStepLR":
            return MultiStepLR(
                optimizer: optimizer, milestones: o.numbers("milestones")!.map { Int($0) }, gamma: o.number("gamma", 0.1))
        case "ExponentialLR":
            return ExponentialLR(optimizer: optimizer, gamma: o.number("gamma", 0))
        case "CosineAnnealingLR":
            return CosineAnnealingLR(optimizer: optimizer, tMax: integer("T_max", 0), etaMin: o.number("eta_min", 0))
        case "CosineAnnealingWarmRestarts":
            return CosineAnnealingWarmRestarts(
                optimizer: optimizer, t0: integer("T_0", 0), tMult: integer("T_mult", 1), etaMin: o.number("eta_min", 0))
        case "LinearLR":
            return LinearLR(
                optimizer: optimizer, startFactor: o.number("start_factor", 1.0 / 3),
                endFactor: o.number("end_factor", 1), totalIters: integer("total_iters", 5))
        case "OneCycleLR":
            let groups = optimizer.parameterGroups.count
            let maxRates = o.numbers("max_lr")!
            return OneCycleLR(
                optimizer: optimizer, maxLearningRates: maxRates.count == 1 ? Array(repeating: maxRates[0], count: groups) : maxRates,
                totalSteps: integer("total_steps", 0), pctStart: o.number("pct_start", 0.3),
                annealStrategy: OneCycleLR.AnnealStrategy(rawValue: o.text("anneal_strategy", "cos"))!,
                cycleMomentum: o.flag("cycle_momentum", true),
                baseMomentum: o.number("base_momentum", 0.85), maxMomentum: o.number("max_momentum", 0.95),
                divFactor: o.number("div_factor", 25), finalDivFactor: o.number("final_div_factor", 1e4),
                threePhase: o.flag("three_phase"))
        case "ReduceLROnPlateau":
            let groups = optimizer.parameterGroups.count
            let minRates = o.numbers("min_lr") ?? [0]
            return ReduceLROnPlateau(
                optimizer: optimizer, mode: ReduceLROnPlateau.Mode(rawValue: o.text("mode", "min"))!,
                factor: o.number("factor", 0.1), patience: integer("patience", 10), threshold: o.number("threshold", 1e-4),
                thresholdMode: ReduceLROnPlateau.ThresholdMode(rawValue: o.text("threshold_mode", "rel"))!,
                cooldown: integer("cooldown", 0),
                minLearningRates: minRates.count == 1 ? Array(repeating: minRates[0], count: groups) : minRates,
                eps: o.number("eps", 1e-8))
        default:
            fatalError("unknown scheduler \(testCase.scheduler)")
        }
    }

    /// Advances a schedule one step; the plateau schedule reads the case's metric for step `index`.
    static func step(_ scheduler: any LearningRateScheduler, _ testCase: ScheduleCase, index: Int) {
        if let plateau = scheduler as? ReduceLROnPlateau {
            plateau.step(metric: testCase.metrics![index])
        } else {
            (scheduler as! LRScheduler).step()
        }
    }

    /// The momentum (SGD) or β1 (Adam) of each group.
    static func momentums(_ optimizer: Optimizer) -> [Double] {
        optimizer.parameterGroups.map { $0[.beta1] ?? $0.value(.momentum) }
    }
}

/// |actual − expected| measured in units of the tolerance atol + rtol·|expected|: ≤ 1 passes.
func toleranceRatio(_ actual: [Float], _ expected: [Float], rtol: Double, atol: Double) -> Double {
    precondition(actual.count == expected.count, "\(actual.count) values, expected \(expected.count)")
    var worst = 0.0
    for (a, e) in zip(actual, expected) {
        let ratio = abs(Double(a) - Double(e)) / (atol + rtol * abs(Double(e)))
        if !(ratio <= worst) { worst = ratio.isNaN ? .infinity : ratio }
    }
    return worst
}
