import Foundation
import Galen

/// Adam (PyTorch's `torch.optim.Adam`), with optional AMSGrad; L2 weight decay is added to the
/// gradient. `AdamW` is the decoupled-weight-decay variant.
///
/// Per parameter at step t: g ← g + λθ; m ← lerp(m, g, 1 − β1); v ← β2·v + (1 − β2)g²;
/// θ ← θ − lr/(1 − β1ᵗ) · m / (√v̂ / √(1 − β2ᵗ) + ε), where v̂ is v or, with AMSGrad, the running
/// maximum of v.
public class Adam: Optimizer {
    /// Whether weight decay shrinks the parameters directly (AdamW) instead of joining the gradient.
    let decoupledWeightDecay: Bool

    /// Adam over parameter groups; their unset hyperparameters take these values.
    public convenience init(
        _ groups: [ParameterGroup], learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
        eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false
    ) {
        self.init(
            groups, learningRate: learningRate, betas: betas, eps: eps, weightDecay: weightDecay,
            amsgrad: amsgrad, maximize: maximize, decoupledWeightDecay: false)
    }

    /// Adam over one group of parameters.
    public convenience init(
        _ parameters: [Tensor], learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
        eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false
    ) {
        self.init(
            [ParameterGroup(parameters)], learningRate: learningRate, betas: betas, eps: eps,
            weightDecay: weightDecay, amsgrad: amsgrad, maximize: maximize, decoupledWeightDecay: false)
    }

    init(
        _ groups: [ParameterGroup], learningRate: Double, betas: (Double, Double), eps: Double,
        weightDecay: Double, amsgrad: Bool, maximize: Bool, decoupledWeightDecay: Bool
    ) {
        let name = decoupledWeightDecay ? "AdamW" : "Adam"
        check(learningRate >= 0, "\(name): invalid learning rate \(learningRate)")
        check(eps >= 0, "\(name): invalid eps \(eps)")
        check(0 <= betas.0 && betas.0 < 1, "\(name): invalid beta1 \(betas.0)")
        check(0 <= betas.1 && betas.1 < 1, "\(name): invalid beta2 \(betas.1)")
        check(weightDecay >= 0, "\(name): invalid weight decay \(weightDecay)")
        self.decoupledWeightDecay = decoupledWeightDecay
        super.init(groups, defaults: [
            .learningRate: learningRate, .beta1: betas.0, .beta2: betas.1, .eps: eps,
            .weightDecay: weightDecay, .amsgrad: amsgrad ? 1 : 0, .maximize: maximize ? 1 : 0,
        ])
    }

    override public func requiredStateKeys(for hyperparameters: [Hyperparameter: Double]) -> [String] {
        var keys = ["step", "exp_avg", "exp_avg_sq"]
        if (hyperparameters[.amsgrad] ?? 0) != 0 { keys.append("max_exp_avg_sq") }
        return keys
    }

    override public func step() {
        forEachParameterWithGradient { group, parameter, gradient, state in
            let step = (state.step ?? 0) + 1
            state.step = step
            let amsgrad = group.flag(.amsgrad)
            let firstMoment = state.buffer("exp_avg", like: parameter)
            let secondMoment = state.buffer("exp_avg_sq", like: parameter)
            let maxSecondMoment = amsgrad ? state.buffer("max_exp_avg_sq", like: parameter) : nil

            let learningRate = group.learningRate
            let beta1 = group.value(.beta1)
            let beta2 = group.value(.beta2)
            let maximize = group.flag(.maximize)
            let hasWeightDecay = group.weightDecay != 0
            let decoupled = decoupledWeightDecay
            let weightDecay = Float(group.weightDecay)
            let decay = Float(1 - learningRate * group.weightDecay)
            // The step-size scalars are computed in double precision, as PyTorch does in Python
            // (`** 0.5`, not sqrt, to get the same bits).
            let biasCorrection1 = 1 - Foundation.pow(beta1, Double(step))
            let biasCorrection2 = 1 - Foundation.pow(beta2, Double(step))
            let negativeStepSize = Float(-(learningRate / biasCorrection1))
            let biasCorrection2Root = Float(Foundation.pow(biasCorrection2, 0.5))
            let oneMinusBeta1 = Float(1 - beta1)
            let beta2F = Float(beta2)
            let oneMinusBeta2 = Float(1 - beta2)
            let eps = Float(group.value(.eps))
            withExtendedLifetime((parameter, gradient, firstMoment, secondMoment, maxSecondMoment)) {
                let theta = parameter.mutableValues
                let grad = gradient.mutableValues
                let m = firstMoment.mutableValues
                let v = secondMoment.mutableValues
                let vMax = maxSecondMoment?.mutableValues
                forEachRange(count: parameter.count) { start, end in
                    for i in start..<end {
                        var g = maximize ? -grad[i] : grad[i]
                        if hasWeightDecay {
                            if decoupled {
                                theta[i] = theta[i] * decay
                            } else {
                                g = g + weightDecay * theta[i]
                            }
                        }
                        m[i] = lerp(m[i], g, oneMinusBeta1)
                        v[i] = v[i] * beta2F + oneMinusBeta2 * g * g
                        var normalizer = v[i]
                        if let vMax {
                            vMax[i] = Swift.max(vMax[i], v[i])
                            normalizer = vMax[i]
                        }
                        let denominator = normalizer.squareRoot() / biasCorrection2Root + eps
                        theta[i] = theta[i] + negativeStepSize * m[i] / denominator
                    }
                }
            }
        }
    }
}
