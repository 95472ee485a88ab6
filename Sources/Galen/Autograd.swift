import Foundation

/// The record of one operation in the dynamic graph: its inputs and how to turn the gradient of
/// its output into gradients of its inputs.
///
/// The backward closure captures the inputs and whatever the forward saved, never the output
/// tensor itself, so the graph holds no reference cycles and is freed with the last tensor that
/// reaches it. `backward()` also drops the closures it ran, releasing saved buffers at once.
public final class GradFunction {
    /// The operation's name, used in error messages.
    public let name: String
    /// The operation's tensor inputs, in the order `backward` returns their gradients.
    public private(set) var inputs: [Tensor]
    private var backwardClosure: ((Tensor) -> [Tensor?])?

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backwardClosure = backward
    }

    func apply(_ gradient: Tensor) -> [Tensor?] {
        guard let closure = backwardClosure else {
            fatalError(
                "backward: the graph through \(name) was already freed by an earlier backward(); "
                    + "pass retainGraph: true to the first call to backward twice")
        }
        return closure(gradient)
    }

    func release() {
        backwardClosure = nil
        inputs = []
    }
}

/// Whether operations record a graph on the current thread (PyTorch's grad mode).
public enum GradMode {
    // Thread-local so that a loader thread running transforms under noGrad does not switch off
    // recording for the training thread. A null slot means enabled (the default).
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Whether new operations record their backward on this thread.
    public static var isEnabled: Bool {
        get { pthread_getspecific(key) == nil }
        set { pthread_setspecific(key, newValue ? nil : UnsafeRawPointer(bitPattern: 1)) }
    }
}

/// Runs `body` with graph recording switched off on this thread, then restores the previous mode.
@discardableResult
public func noGrad<Result>(_ body: () throws -> Result) rethrows -> Result {
    let previous = GradMode.isEnabled
    GradMode.isEnabled = false
    defer { GradMode.isEnabled = previous }
    return try body()
}

/// Attaches a backward to `result` when grad mode is on and an input requires grad; returns `result`.
///
/// The closure receives the gradient of `result` and returns one gradient per input (nil where an
/// input needs none), each of that input's shape.
@inline(__always)
public func record(
    _ result: Tensor, _ name: String, _ inputs: [Tensor],
    _ backward: @escaping (Tensor) -> [Tensor?]
) -> Tensor {
    guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGradFlag }) else { return result }
    result.gradFunction = GradFunction(name: name, inputs: inputs, backward: backward)
    result.requiresGradFlag = true
    return result
}

extension Tensor {
    /// Computes the gradient of this tensor with respect to every leaf that requires grad and adds
    /// it to that leaf's `grad`.
    ///
    /// - Parameters:
    ///   - gradient: d(objective)/d(self); may be omitted only for a one-element tensor (then 1).
    ///   - retainGraph: keep the graph so that `backward` can run through it again.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) {
        check(
            requiresGradFlag,
            "backward: tensor of shape \(shape) does not require grad (no input required grad, or it was made under noGrad)")
        let seed: Tensor
        if let gradient {
            check(
                gradient.shape == shape,
                "backward: gradient of shape \(gradient.shape) does not match tensor of shape \(shape)")
            seed = gradient
        } else {
            check(
                count == 1,
                "backward: an implicit gradient needs a one-element tensor, not shape \(shape); pass the gradient")
            seed = Tensor.ones(shape)
        }
        noGrad {
            let order = topologicalOrder()
            var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
            for tensor in order.reversed() {
                guard let gradient = pending.removeValue(forKey: ObjectIdentifier(tensor)) else { continue }
                guard let function = tensor.gradFunction else {
                    tensor.accumulateGrad(gradient)
                    continue
                }
                let inputGradients = function.apply(gradient)
                check(
                    inputGradients.count == function.inputs.count,
                    "backward: \(function.name) returned \(inputGradients.count) gradients for \(function.inputs.count) inputs")
                for (input, inputGradient) in zip(function.inputs, inputGradients) {
                    guard input.requiresGradFlag, let inputGradient else { continue }
                    check(
                        inputGradient.shape == input.shape,
                        "backward: \(function.name) produced a gradient of shape \(inputGradient.shape) for an input of shape \(input.shape)")
                    let key = ObjectIdentifier(input)
                    if let existing = pending[key] {
                        pending[key] = existing + inputGradient
                    } else {
                        pending[key] = inputGradient
                    }
                }
                if !retainGraph { function.release() }
            }
        }
    }

    /// Adds `gradient` into `grad`, owning the buffer so later in-place accumulation is safe.
    private func accumulateGrad(_ gradient: Tensor) {
        if let existing = grad {
            addInPlace(existing, gradient)
        } else {
            grad = gradient.copy()
        }
    }

    /// Tensors reachable from self through recorded operations, each after all of its inputs.
    private func topologicalOrder() -> [Tensor] {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        // Iterative depth-first search: deep graphs (long RNN unrolls) must not overflow the stack.
        var stack: [(Tensor, Int)] = [(self, 0)]
        visited.insert(ObjectIdentifier(self))
        while let (tensor, next) = stack.popLast() {
            let inputs = tensor.gradFunction?.inputs ?? []
            if next < inputs.count {
                stack.append((tensor, next + 1))
                let input = inputs[next]
                if input.requiresGradFlag, visited.insert(ObjectIdentifier(input)).inserted {
                    stack.append((input, 0))
                }
            } else {
                order.append(tensor)
            }
        }
        return order
    }

    /// Sets `grad` to nil (PyTorch's `zero_grad(set_to_none=True)`).
    public func zeroGrad() {
        grad = nil
    }
}

/// Adds `source` into `target` elementwise, in place. Shapes must match; `target` must be contiguous.
func addInPlace(_ target: Tensor, _ source: Tensor) {
    check(target.shape == source.shape, "addInPlace: shapes \(target.shape) and \(source.shape) differ")
    check(target.isContiguous, "addInPlace: target must be contiguous")
    let values = source.contiguousValues()
    defer { withExtendedLifetime(values) {} }
    let count = target.count
    let destination = target.pointer
    let from = values.pointer
    parallelRanges(count: count, grain: 1 << 15) { start, end in
        for i in start..<end { destination[i] += from[i] }
    }
}
