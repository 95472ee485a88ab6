import Galen

/// Adagrad (PyTorch's `torch.optim.Adagrad`): per-element learning rates scaled by the root of
/// the sum of squared gradients.
///
/// Per parameter at step t: g ← g + λθ; clr = lr / (1 + (t − 1)·lrDecay); s ← s + g²;
/// θ ← θ − clr·g / (√s + ε).
public final class Adagrad: Optimizer {
    /// Adagrad over parameter groups; their unset hyperparameters take these values.
    public init(
        _ groups: [ParameterGroup], learningRate: Double = 1e-2, lrDecay: Double = 0, weightDecay: Double = 0,
        initialAccumulatorValue: Double = 0, eps: Double = 1e-10, maximize: Bool = false
    ) {
        check(learningRate >= 0, "Adagrad: invalid learning rate \(learningRate)")
        check(lrDecay >= 0, "Adagrad: invalid lrDecay \(lrDecay)")
        check(weightDecay >= 0, "Adagrad: invalid weight decay \(weightDecay)")
        check(initialAccumulatorValue >= 0, "Adagrad: invalid initialAccumulatorValue \(initialAccumulatorValue)")
        check(eps >= 0, "Adagrad: invalid eps \(eps)")
        super.init(groups, defaults: [
            .learningRate: learningRate, .lrDecay: lrDecay, .weightDecay: weightDecay,
            .initialAccumulatorValue: initialAccumulatorValue, .eps: eps, .maximize: maximize ? 1 : 0,
        ])
    }

    /// Adagrad over one group of parameters.
    public convenience init(
        _ parameters: [Tensor], learningRate: Double = 1e-2, lrDecay: Double = 0, weightDecay: Double = 0,
        initialAccumulatorValue: Double = 0, eps: Double = 1e-10, maximize: Bool = false
    ) {
        self.init(
            [ParameterGroup(parameters)], learningRate: learningRate, lrDecay: lrDecay, weightDecay: weightDecay,
            initialAccumulatorValue: initialAccumulatorValue, eps: eps, maximize: maximize)
    }

    /// PyTorch creates Adagrad's sums when the parameters are added, not at their first step, so
    /// every parameter has state in a state dict.
    override public func didAddParameterGroup(_ index: Int) {
        let group = parameterGroups[index]
        let initialValue = Float(group.value(.initialAccumulatorValue))
        for parameter in group.parameters {
            state[ObjectIdentifier(parameter)] = ParameterState(
                step: 0, buffers: ["sum": Tensor.full(parameter.shape, initialValue)])
        }
    }

    override public func requiredStateKeys(for hyperparameters: [Hyperparameter: Double]) -> [String] {
        ["step", "sum"]
    }

    override public func step() {
        forEachParameterWithGradient { group, parameter, gradient, state in
            let step = (state.step ?? 0) + 1
            state.step = step
            let sumBuffer = state.buffer(
                "sum", like: parameter, initialValue: Float(group.value(.initialAccumulatorValue)))
            let maximize = group.flag(.maximize)
            let hasWeightDecay = group.weightDecay != 0
            let weightDecay = Float(group.weightDecay)
            let clr = group.learningRate / (1 + Double(step - 1) * group.value(.lrDecay))
            let negativeCLR = Float(-clr)
            let eps = Float(group.value(.eps))
            withExtendedLifetime((parameter, gradient, sumBuffer)) {
                let theta = parameter.mutableValues
                let grad = gradient.mutableValues
                let sum = sumBuffer.mutableValues
                forEachRange(count: parameter.count) { start, end in
                    for i in start..<end {
                        var g = maximize ? -grad[i] : grad[i]
                        if hasWeightDecay { g = g + weightDecay * theta[i] }
                        sum[i] = sum[i] + g * g
                        let std = sum[i].squareRoot() + eps
                        theta[i] = theta[i] + negativeCLR * g / std
                    }
                }
            }
        }
    }
}
