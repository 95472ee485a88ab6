import Galen

/// AdamW (PyTorch's `torch.optim.AdamW`): Adam with decoupled weight decay, θ ← θ·(1 − lr·λ)
/// before the Adam update, so the decay does not pass through the moment estimates.
public final class AdamW: Adam {
    /// AdamW over parameter groups; their unset hyperparameters take these values.
    public convenience init(
        _ groups: [ParameterGroup], learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
        eps: Double = 1e-8, weightDecay: Double = 1e-2, amsgrad: Bool = false, maximize: Bool = false
    ) {
        self.init(
            groups, learningRate: learningRate, betas: betas, eps: eps, weightDecay: weightDecay,
            amsgrad: amsgrad, maximize: maximize, decoupledWeightDecay: true)
    }

    /// AdamW over one group of parameters.
    public convenience init(
        _ parameters: [Tensor], learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
        eps: Double = 1e-8, weightDecay: Double = 1e-2, amsgrad: Bool = false, maximize: Bool = false
    ) {
        self.init(
            [ParameterGroup(parameters)], learningRate: learningRate, betas: betas, eps: eps,
            weightDecay: weightDecay, amsgrad: amsgrad, maximize: maximize, decoupledWeightDecay: true)
    }
}
