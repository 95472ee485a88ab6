import Galen
import GalenTestSupport

/// Galen's side of each fixture op: the same computation as the lambda of the same op name in
/// Scripts/fixtures/cases_*.py.
enum OpRegistry {
    static let core: [String: OpFunction] = [
        "add": { x, _, _ in x[0] + x[1] },
        "sub": { x, _, _ in x[0] - x[1] },
        "mul": { x, _, _ in x[0] * x[1] },
        "div": { x, _, _ in x[0] / x[1] },
        "add_scalar": { x, _, a in x[0] + a.float("value") },
        "rsub_scalar": { x, _, a in a.float("value") - x[0] },
        "mul_scalar": { x, _, a in x[0] * a.float("value") },
        "rdiv_scalar": { x, _, a in a.float("value") / x[0] },
        "neg": { x, _, _ in -x[0] },
        "pow_scalar": { x, _, a in x[0].pow(a.float("exponent")) },
        "pow_tensor": { x, _, _ in x[0].pow(x[1]) },
        "sqrt": { x, _, _ in x[0].sqrt() },
        "exp": { x, _, _ in x[0].exp() },
        "log": { x, _, _ in x[0].log() },
        "abs": { x, _, _ in x[0].abs() },
        "clamp": { x, _, a in
            x[0].clamp(min: a.has("min") ? a.float("min") : nil, max: a.has("max") ? a.float("max") : nil)
        },
        "relu": { x, _, _ in relu(x[0]) },
        "leaky_relu": { x, _, a in leakyRelu(x[0], negativeSlope: a.float("slope")) },
        "elu": { x, _, a in elu(x[0], alpha: a.float("alpha")) },
        "gelu": { x, _, _ in gelu(x[0]) },
        "gelu_tanh": { x, _, _ in gelu(x[0], approximate: .tanh) },
        "sigmoid": { x, _, _ in sigmoid(x[0]) },
        "tanh": { x, _, _ in tanh(x[0]) },
        "softplus": { x, _, a in softplus(x[0], beta: a.float("beta"), threshold: a.float("threshold")) },
        "silu": { x, _, _ in silu(x[0]) },
        "sum": { x, _, a in a.has("axes") ? x[0].sum(axes: a.ints("axes"), keepDims: a.bool("keepdim")) : x[0].sum() },
        "mean": { x, _, a in a.has("axes") ? x[0].mean(axes: a.ints("axes"), keepDims: a.bool("keepdim")) : x[0].mean() },
        "var": { x, _, a in
            x[0].variance(axes: a.ints("axes"), correction: a.int("correction"), keepDims: a.bool("keepdim"))
        },
        "max_axis": { x, _, a in x[0].max(axis: a.int("axis"), keepDims: a.bool("keepdim")).values },
        "min_axis": { x, _, a in x[0].min(axis: a.int("axis"), keepDims: a.bool("keepdim")).values },
        "max_all": { x, _, _ in x[0].max() },
        "min_all": { x, _, _ in x[0].min() },
        "softmax": { x, _, a in softmax(x[0], axis: a.int("axis")) },
        "log_softmax": { x, _, a in logSoftmax(x[0], axis: a.int("axis")) },
        "logsumexp": { x, _, a in logSumExp(x[0], axis: a.int("axis"), keepDims: a.bool("keepdim")) },
        "matmul": { x, _, _ in matmul(x[0], x[1]) },
        "matmul_transposed_right": { x, _, _ in matmul(x[0], x[1].transposed()) },
        "matmul_transposed_left": { x, _, _ in matmul(x[0].transposed(), x[1]) },
        "reshape": { x, _, a in x[0].reshaped(a.ints("shape")) },
        "transpose_contiguous": { x, _, a in x[0].transposed(a.int("a"), a.int("b")).contiguous() * 1 },
        "permute": { x, _, a in x[0].permuted(a.ints("order")).contiguous() },
        "permute_add": { x, _, a in x[0].permuted(a.ints("order")) + x[1] },
        "squeeze": { x, _, a in x[0].squeezed(axis: a.int("axis")) },
        "unsqueeze": { x, _, a in x[0].unsqueezed(axis: a.int("axis")) },
        "expand": { x, _, a in
            let shape = a.ints("shape")
            let weights = Tensor((0..<24).map { 0.5 + 1.5 * Float($0) / 23 }, shape: shape)
            return x[0].expanded(to: shape) * weights
        },
        "flatten": { x, _, a in x[0].flattened(startAxis: a.int("start"), endAxis: a.int("end")) },
        "concat": { x, _, a in concat(x, axis: a.int("axis")) },
        "stack": { x, _, a in stack(x, axis: a.int("axis")) },
        "split_weighted": { x, _, a in
            let pieces = x[0].split(sizes: a.ints("sizes"), axis: a.int("axis"))
            return concat(pieces.enumerated().map { $1 * Float($0 + 1) }, axis: a.int("axis"))
        },
        "chunk_weighted": { x, _, a in
            let pieces = x[0].chunk(a.int("chunks"), axis: a.int("axis"))
            return concat(pieces.enumerated().map { $1 * Float($0 + 1) }, axis: a.int("axis"))
        },
        "slice": { x, _, a in
            x[0].slice(axis: a.int("axis"), start: a.int("start"), end: a.int("end"), step: a.int("step"))
        },
        "select": { x, _, a in x[0].select(axis: a.int("axis"), index: a.int("index")) },
        "gather": { x, i, a in x[0].gather(axis: a.int("axis"), index: i[0]) },
        "index_select": { x, i, a in x[0].indexSelect(axis: a.int("axis"), index: i[0]) },
        "scatter_add": { x, i, a in x[0].scatterAdd(axis: a.int("axis"), index: i[0], source: x[1]) },
        "where": { x, i, _ in Galen.where(i[0], x[0], x[1]) },
        "masked_fill": { x, i, a in x[0].maskedFill(i[0], value: a.float("value")) },
        "pad": { x, _, a in
            pad(x[0], a.ints("padding"), mode: PaddingMode(rawValue: a.string("mode"))!, value: a.float("value"))
        },
    ]
}
