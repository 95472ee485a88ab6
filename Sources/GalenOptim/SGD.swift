import Galen

/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and weight
/// decay (PyTorch's `torch.optim.SGD`).
///
/// Per parameter, with g the gradient: g ← g + λθ; with momentum, b ← g on the first step and
/// b ← μb + (1 − τ)g after, then g ← g + μb (Nesterov) or g ← b; finally θ ← θ − lr·g.
public final class SGD: Optimizer {
    /// SGD over parameter groups; their unset hyperparameters take these values.
    public init(
        _ groups: [ParameterGroup], learningRate: Double = 1e-3, momentum: Double = 0, dampening: Double = 0,
        weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false
    ) {
        check(learningRate >= 0, "SGD: invalid learning rate \(learningRate)")
        check(momentum >= 0, "SGD: invalid momentum \(momentum)")
        check(weightDecay >= 0, "SGD: invalid weight decay \(weightDecay)")
        check(
            !nesterov || (momentum > 0 && dampening == 0),
            "SGD: Nesterov momentum requires a momentum and zero dampening (momentum \(momentum), dampening \(dampening))")
        super.init(groups, defaults: [
            .learningRate: learningRate, .momentum: momentum, .dampening: dampening,
            .weightDecay: weightDecay, .nesterov: nesterov ? 1 : 0, .maximize: maximize ? 1 : 0,
        ])
    }

    /// SGD over one group of parameters.
    public convenience init(
        _ parameters: [Tensor], learningRate: Double = 1e-3, momentum: Double = 0, dampening: Double = 0,
        weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false
    ) {
        self.init(
            [ParameterGroup(parameters)], learningRate: learningRate, momentum: momentum, dampening: dampening,
            weightDecay: weightDecay, nesterov: nesterov, maximize: maximize)
    }

    override public func requiredStateKeys(for hyperparameters: [Hyperparameter: Double]) -> [String] {
        (hyperparameters[.momentum] ?? 0) != 0 ? ["momentum_buffer"] : []
    }

    override public func step() {
        forEachParameterWithGradient { group, parameter, gradient, state in
            let momentum = group.value(.momentum)
            let nesterov = group.flag(.nesterov)
            let maximize = group.flag(.maximize)
            let hasWeightDecay = group.weightDecay != 0
            // Scalars are Python floats in PyTorch and become float32 at the kernel.
            let weightDecay = Float(group.weightDecay)
            let momentumF = Float(momentum)
            let keep = Float(1 - group.value(.dampening))
            let negativeLR = Float(-group.learningRate)

            // The first momentum step copies the gradient into the buffer instead of decaying it.
            var buffer: Tensor?
            var isFirstMomentumStep = false
            if momentum != 0 {
                isFirstMomentumStep = state.buffers["momentum_buffer"] == nil
                buffer = state.buffer("momentum_buffer", like: parameter)
            }
            withExtendedLifetime((parameter, gradient, buffer)) {
                let theta = parameter.mutableValues
                let grad = gradient.mutableValues
                let buf = buffer?.mutableValues
                forEachRange(count: parameter.count) { start, end in
                    for i in start..<end {
                        var g = maximize ? -grad[i] : grad[i]
                        if hasWeightDecay { g = g + weightDecay * theta[i] }
                        if let buf {
                            buf[i] = isFirstMomentumStep ? g : buf[i] * momentumF + keep * g
                            g = nesterov ? g + momentumF * buf[i] : buf[i]
                        }
                        theta[i] = theta[i] + negativeLR * g
                    }
                }
            }
        }
    }
}
