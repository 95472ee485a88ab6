// GalenOptim: optimizers, learning-rate schedules and gradient clipping (PyTorch torch.optim semantics).
//
// Where things live: Optimizer.swift (base class, parameter groups, per-parameter state), one file
// per algorithm (SGD, Adagrad, RMSprop, Adam, AdamW), OptimizerStateDict.swift (resuming),
// GradientClipping.swift, LRScheduler.swift + Schedules.swift + OneCycleLR.swift +
// ReduceLROnPlateau.swift (learning-rate schedules), LRFinder.swift (the LR range test).
