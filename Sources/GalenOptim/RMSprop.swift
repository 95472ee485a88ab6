import Galen

/// RMSprop (PyTorch's `torch.optim.RMSprop`), optionally centered and with momentum.
///
/// Per parameter: g ← g + λθ; v ← αv + (1 − α)g²; centered: ḡ ← lerp(ḡ, g, 1 − α) and
/// a = √(v − ḡ²) + ε, else a = √v + ε; with momentum b ← μb + g/a and θ ← θ − lr·b, else
/// θ ← θ − lr·g/a.
public final class RMSprop: Optimizer {
    /// RMSprop over parameter groups; their unset hyperparameters take these values.
    public init(
        _ groups: [ParameterGroup], learningRate: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8,
        weightDecay: Double = 0, momentum: Double = 0, centered: Bool = false, maximize: Bool = false
    ) {
        check(learningRate >= 0, "RMSprop: invalid learning rate \(learningRate)")
        check(eps >= 0, "RMSprop: invalid eps \(eps)")
        check(momentum >= 0, "RMSprop: invalid momentum \(momentum)")
        check(weightDecay >= 0, "RMSprop: invalid weight decay \(weightDecay)")
        check(alpha >= 0, "RMSprop: invalid alpha \(alpha)")
        super.init(groups, defaults: [
            .learningRate: learningRate, .alpha: alpha, .eps: eps, .weightDecay: weightDecay,
            .momentum: momentum, .centered: centered ? 1 : 0, .maximize: maximize ? 1 : 0,
        ])
    }

    /// RMSprop over one group of parameters.
    public convenience init(
        _ parameters: [Tensor], learningRate: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8,
        weightDecay: Double = 0, momentum: Double = 0, centered: Bool = false, maximize: Bool = false
    ) {
        self.init(
            [ParameterGroup(parameters)], learningRate: learningRate, alpha: alpha, eps: eps,
            weightDecay: weightDecay, momentum: momentum, centered: centered, maximize: maximize)
    }

    override public func requiredStateKeys(for hyperparameters: [Hyperparameter: Double]) -> [String] {
        var keys = ["step", "square_avg"]
        if (hyperparameters[.momentum] ?? 0) > 0 { keys.append("momentum_buffer") }
        if (hyperparameters[.centered] ?? 0) != 0 { keys.append("grad_avg") }
        return keys
    }

    override public func step() {
        forEachParameterWithGradient { group, parameter, gradient, state in
            state.step = (state.step ?? 0) + 1
            let momentum = group.value(.momentum)
            let centered = group.flag(.centered)
            let squareAverage = state.buffer("square_avg", like: parameter)
            let gradientAverage = centered ? state.buffer("grad_avg", like: parameter) : nil
            let momentumBuffer = momentum > 0 ? state.buffer("momentum_buffer", like: parameter) : nil

            let maximize = group.flag(.maximize)
            let hasWeightDecay = group.weightDecay != 0
            let weightDecay = Float(group.weightDecay)
            let alpha = Float(group.value(.alpha))
            let oneMinusAlpha = Float(1 - group.value(.alpha))
            let eps = Float(group.value(.eps))
            let momentumF = Float(momentum)
            let negativeLR = Float(-group.learningRate)
            withExtendedLifetime((parameter, gradient, squareAverage, gradientAverage, momentumBuffer)) {
                let theta = parameter.mutableValues
                let grad = gradient.mutableValues
                let square = squareAverage.mutableValues
                let average = gradientAverage?.mutableValues
                let buf = momentumBuffer?.mutableValues
                forEachRange(count: parameter.count) { start, end in
                    for i in start..<end {
                        var g = maximize ? -grad[i] : grad[i]
                        if hasWeightDecay { g = g + weightDecay * theta[i] }
                        square[i] = square[i] * alpha + oneMinusAlpha * g * g
                        var denominator: Float
                        if let average {
                            average[i] = lerp(average[i], g, oneMinusAlpha)
                            denominator = (square[i] + -average[i] * average[i]).squareRoot()
                        } else {
                            denominator = square[i].squareRoot()
                        }
                        denominator = denominator + eps
                        if let buf {
                            buf[i] = buf[i] * momentumF + g / denominator
                            theta[i] = theta[i] + negativeLR * buf[i]
                        } else {
                            theta[i] = theta[i] + negativeLR * g / denominator
                        }
                    }
                }
            }
        }
    }
}
