import CDNNL
import Foundation

// The oneDNN path of Galen's matrix products: oneDNN's matmul primitive (its AVX-512 / AVX2
// "brgemm" kernels) on Galen's row-major buffers, in place of OpenBLAS's sgemm.
//
// Measured on this project's 2-core AVX-512 machine (2 threads, GFLOP/s, OpenBLAS 0.3.21 vs
// oneDNN 2.6 on plain layouts): 2048×128·128×384 (a transformer's Q|K|V projection) 162 vs 153,
// 2048×128·128×128 133 vs 232, 1000×1000·1000×64 (a GCN's Â·XW) 131 vs 216, 32×128·128×512 (an
// LSTM step on one thread) 67 vs 105. OpenBLAS stays the reference path (`MatmulPath`).
//
// Threads: every primitive runs on one OpenMP thread, and Galen splits a product into blocks of
// rows (or of columns, when there are few rows) that its own threads run at once. OpenMP's pool is
// then never started, so nothing spins between operations (libgomp's idle workers would otherwise
// burn a core for milliseconds after every call, see OneDNNConvolution.swift), and callers that are
// already on Galen's threads (the recurrent op's blocks of sequences) run single-threaded products.

/// Which library computes Galen's matrix products (`matmul`, linear layers, attention, the
/// recurrent op, the reference convolution path).
///
/// Both add in different orders, so results agree to float rounding (about 1e-6 relative), not
/// bit for bit; each is deterministic for a given thread count.
public enum MatmulPath: String, Sendable, CaseIterable {
    /// OpenBLAS's sgemm: the plain reference, always available.
    case openBLAS = "openblas"
    /// oneDNN's matmul primitive. Where oneDNN is missing or offers only its reference loops for a
    /// shape, the product silently takes the OpenBLAS path.
    case oneDNN = "onednn"

    /// Forces a path for the current task and the tasks it creates, ahead of `GALEN_MATMUL`:
    /// `MatmulPath.$override.withValue(.openBLAS) { … }`.
    @TaskLocal public static var override: MatmulPath?

    /// The path set by the environment variable `GALEN_MATMUL` (`openblas` or `onednn`), read once;
    /// oneDNN when unset.
    public static let environmentDefault = pathFromEnvironment("GALEN_MATMUL", default: MatmulPath.oneDNN)

    /// The path the next product takes: `override`, else `GALEN_MATMUL`, else oneDNN.
    public static var current: MatmulPath { override ?? environmentDefault }
}

/// Everything a matmul primitive depends on: one block's shape, operand layouts and scalars.
struct OneDNNMatmulKey: Hashable, Sendable {
    let m: Int, n: Int, k: Int
    let transposeA: Bool, transposeB: Bool
    let lda: Int, ldb: Int, ldc: Int
    let alpha: Float, beta: Float
    /// B in the layout the primitive prefers (see `OneDNNPackedProduct`) instead of as given.
    var packedB = false
    /// A bias row added to every row of C (alpha must be 1: oneDNN adds it before the scale).
    var bias = false
}

/// One single-threaded matmul primitive over strided row-major operands. Immutable; primitives
/// run on several threads at once because each run brings its own scratchpad.
final class OneDNNMatmulPlan: @unchecked Sendable {
    let primitive: dnnl_primitive_t
    let a: dnnl_memory_desc_t, b: dnnl_memory_desc_t, c: dnnl_memory_desc_t
    let biasDescriptor: dnnl_memory_desc_t?
    let scratchpadBytes: Int
    let implementation: String
    let engine: dnnl_engine_t
    /// Contexts not running at the moment; one is made whenever all are busy, so there are at most
    /// as many as runs have ever overlapped.
    private var idleContexts: [OneDNNExecutionContext] = []
    private let contextLock = NSLock()

    /// nil when oneDNN rejects the shape or offers only its reference implementation.
    init?(_ key: OneDNNMatmulKey, engine: dnnl_engine_t) {
        func strided(_ rows: Int, _ columns: Int, transposed: Bool, leading: Int) -> dnnl_memory_desc_t? {
            var descriptor = dnnl_memory_desc_t()
            let dims: [Int64] = [Int64(rows), Int64(columns)]
            // A transposed operand is stored (columns × rows): element (i, j) sits at j·leading + i.
            let strides: [Int64] = transposed ? [1, Int64(leading)] : [Int64(leading), 1]
            guard dnnl_memory_desc_init_by_strides(&descriptor, 2, dims, dnnl_f32, strides) == dnnl_success else {
                return nil
            }
            return descriptor
        }
        guard var a = strided(key.m, key.k, transposed: key.transposeA, leading: key.lda),
            var b = strided(key.k, key.n, transposed: key.transposeB, leading: key.ldb),
            var c = strided(key.m, key.n, transposed: false, leading: key.ldc)
        else { return nil }
        var bias = key.bias ? strided(1, key.n, transposed: false, leading: key.n) : nil
        if key.bias && (bias == nil || key.alpha != 1) { return nil }
        if key.packedB {
            let dims: [Int64] = [Int64(key.k), Int64(key.n)]
            guard dnnl_memory_desc_init_by_tag(&b, 2, dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success else {
                return nil
            }
        }

        var attr: dnnl_primitive_attr_t?
        guard dnnl_primitive_attr_create(&attr) == dnnl_success, let attr else { return nil }
        defer { dnnl_primitive_attr_destroy(attr) }
        guard dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success else { return nil }
        if key.alpha != 1 {
            var alpha = key.alpha
            guard dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha) == dnnl_success else { return nil }
        }
        if key.beta != 0 {
            // dst = alpha·A·B + beta·dst: oneDNN's sum post-op adds the old destination, scaled.
            var postOps: dnnl_post_ops_t?
            guard dnnl_post_ops_create(&postOps) == dnnl_success, let postOps else { return nil }
            defer { dnnl_post_ops_destroy(postOps) }
            guard dnnl_post_ops_append_sum(postOps, key.beta) == dnnl_success,
                dnnl_primitive_attr_set_post_ops(attr, postOps) == dnnl_success
            else { return nil }
        }

        var desc = dnnl_matmul_desc_t()
        let initialized = bias == nil
            ? dnnl_matmul_desc_init(&desc, &a, &b, nil, &c) : dnnl_matmul_desc_init(&desc, &a, &b, &bias!, &c)
        guard initialized == dnnl_success else { return nil }
        var descriptor: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&descriptor, &desc, attr, engine, nil) == dnnl_success, let descriptor else {
            return nil
        }
        defer { dnnl_primitive_desc_destroy(descriptor) }
        implementation = implementationName(descriptor)
        guard !implementation.hasPrefix("ref") else { return nil }
        var primitive: dnnl_primitive_t?
        guard dnnl_primitive_create(&primitive, descriptor) == dnnl_success, let primitive else { return nil }
        self.primitive = primitive
        if key.packedB, let chosen = dnnl_primitive_desc_query_md(descriptor, dnnl_query_weights_md, 0) {
            b = chosen.pointee
        }
        (self.a, self.b, self.c, self.biasDescriptor, self.engine) = (a, b, c, bias, engine)
        var bytes = 0
        if var scratchpad = dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0)?.pointee {
            bytes = dnnl_memory_desc_get_size(&scratchpad)
        }
        scratchpadBytes = bytes
    }

    deinit { dnnl_primitive_destroy(primitive) }

    /// Runs the product on the calling thread (`bias` exactly when the key has one). Returns false
    /// if oneDNN reports an error.
    func run(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        bias: UnsafePointer<Float>? = nil
    ) -> Bool {
        OpenMP.setNumThreads?(1)
        contextLock.lock()
        let reused = idleContexts.popLast()
        contextLock.unlock()
        guard let context = reused ?? OneDNNExecutionContext(self) else { return false }
        defer {
            contextLock.lock()
            idleContexts.append(context)
            contextLock.unlock()
        }
        return context.run(primitive, a, b, c, bias: bias)
    }
}

/// What one run of a matmul primitive needs besides the primitive: a stream, memory objects for
/// the operands and a scratchpad. Made once and pointed at each run's buffers: creating them per
/// call cost 2.3 µs, 6% of a 32×128·128×512 LSTM step product on one core.
private final class OneDNNExecutionContext {
    private let stream: dnnl_stream_t
    /// Source, weights, destination, then bias when the plan has one; then the scratchpad.
    private var memories: [dnnl_memory_t] = []
    private let operandCount: Int
    private var arguments: [dnnl_exec_arg_t] = []
    private let scratchpad: UnsafeMutableRawPointer?
    private let scratchpadBytes: Int

    init?(_ plan: OneDNNMatmulPlan) {
        var stream: dnnl_stream_t?
        guard dnnl_stream_create(&stream, plan.engine, dnnl_stream_default_flags.rawValue) == dnnl_success,
            let stream
        else { return nil }
        self.stream = stream
        scratchpadBytes = plan.scratchpadBytes
        scratchpad = plan.scratchpadBytes > 0 ? allocateAligned(plan.scratchpadBytes) : nil
        var descriptors = [(DNNL_ARG_SRC, plan.a), (DNNL_ARG_WEIGHTS, plan.b), (DNNL_ARG_DST, plan.c)]
        if let bias = plan.biasDescriptor { descriptors.append((DNNL_ARG_BIAS, bias)) }
        operandCount = descriptors.count
        // No buffers yet (DNNL_MEMORY_NONE): each run sets them.
        for (argument, descriptor) in descriptors {
            var descriptor = descriptor
            var created: dnnl_memory_t?
            guard dnnl_memory_create(&created, &descriptor, plan.engine, nil) == dnnl_success, let memory = created
            else { return nil }
            memories.append(memory)
            arguments.append(dnnl_exec_arg_t(arg: Int32(argument), memory: memory))
        }
        if let scratchpad {
            guard let memory = makeMemory(scratchpadDescriptor(plan.scratchpadBytes), scratchpad, engine: plan.engine)
            else { return nil }
            memories.append(memory)
            arguments.append(dnnl_exec_arg_t(arg: Int32(DNNL_ARG_SCRATCHPAD), memory: memory))
        }
    }

    deinit {
        for memory in memories { dnnl_memory_destroy(memory) }
        dnnl_stream_destroy(stream)
        if let scratchpad { deallocateAligned(scratchpad, bytes: scratchpadBytes) }
    }

    func run(
        _ primitive: dnnl_primitive_t, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?
    ) -> Bool {
        precondition((bias != nil) == (operandCount == 4), "oneDNN matmul: bias given to a plan without one, or missing")
        let handles = [
            UnsafeMutableRawPointer(mutating: a), UnsafeMutableRawPointer(mutating: b), UnsafeMutableRawPointer(c),
            UnsafeMutableRawPointer(mutating: bias),
        ]
        for index in 0..<operandCount {
            guard dnnl_memory_set_data_handle(memories[index], handles[index]) == dnnl_success else { return false }
        }
        guard dnnl_primitive_execute(primitive, stream, Int32(arguments.count), arguments) == dnnl_success else {
            return false
        }
        return dnnl_stream_wait(stream) == dnnl_success
    }
}

/// A product whose B operand is reused many times (the recurrent weights, once per time step):
/// B is reordered once into the primitive's preferred blocked layout, so the runs skip the
/// packing a plain-layout product repeats on every call (on one thread, a 32×128·128×512 step:
/// 105 → 140 GFLOP/s). The packed copy is private to this object; B may change afterwards.
final class OneDNNPackedProduct {
    private let plan: OneDNNMatmulPlan
    private let packed: UnsafeMutableRawPointer
    private let packedBytes: Int

    /// nil when oneDNN is unavailable or refuses the shape; then use `gemm`.
    init?(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        beta: Float, ldc: Int
    ) {
        guard m > 0, n > 0, k > 0, let runtime = OneDNNRuntime.shared else { return nil }
        let key = OneDNNMatmulKey(
            m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, lda: lda, ldb: ldb, ldc: ldc, alpha: 1,
            beta: beta, packedB: true)
        guard let plan = OneDNNMatmulCache.plan(key, engine: runtime.engine) else { return nil }
        // The plain B as given, and the reorder into the layout the plan chose.
        var plain = dnnl_memory_desc_t()
        let dims: [Int64] = [Int64(k), Int64(n)]
        let strides: [Int64] = transposeB ? [1, Int64(ldb)] : [Int64(ldb), 1]
        var native = plan.b
        guard dnnl_memory_desc_init_by_strides(&plain, 2, dims, dnnl_f32, strides) == dnnl_success else { return nil }
        let bytes = dnnl_memory_desc_get_size(&native)
        let buffer = allocateAligned(bytes)
        var reorderDescriptor: dnnl_primitive_desc_t?
        var reorder: dnnl_primitive_t?
        var stream: dnnl_stream_t?
        defer {
            if let reorder { dnnl_primitive_destroy(reorder) }
            if let reorderDescriptor { dnnl_primitive_desc_destroy(reorderDescriptor) }
            if let stream { dnnl_stream_destroy(stream) }
        }
        OpenMP.setNumThreads?(1)
        guard
            dnnl_reorder_primitive_desc_create(&reorderDescriptor, &plain, runtime.engine, &native, runtime.engine, nil)
                == dnnl_success,
            let reorderDescriptor, dnnl_primitive_create(&reorder, reorderDescriptor) == dnnl_success, let reorder,
            dnnl_stream_create(&stream, runtime.engine, dnnl_stream_default_flags.rawValue) == dnnl_success, let stream,
            let from = makeMemory(plain, UnsafeMutableRawPointer(mutating: b), engine: runtime.engine)
        else {
            deallocateAligned(buffer, bytes: bytes)
            return nil
        }
        defer { dnnl_memory_destroy(from) }
        guard let to = makeMemory(native, buffer, engine: runtime.engine) else {
            deallocateAligned(buffer, bytes: bytes)
            return nil
        }
        defer { dnnl_memory_destroy(to) }
        let arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: to)]
        guard dnnl_primitive_execute(reorder, stream, 2, arguments) == dnnl_success,
            dnnl_stream_wait(stream) == dnnl_success
        else {
            deallocateAligned(buffer, bytes: bytes)
            return nil
        }
        (self.plan, self.packed, self.packedBytes) = (plan, buffer, bytes)
    }

    deinit { deallocateAligned(packed, bytes: packedBytes) }

    /// C ← op(A)·B + beta·C on the calling thread.
    func run(_ a: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
        guard plan.run(a, UnsafePointer(packed.assumingMemoryBound(to: Float.self)), c) else {
            fatalError("oneDNN matmul: a primitive that was created failed to run")
        }
    }
}

/// The matmul plans.
enum OneDNNMatmulCache {
    /// A transformer step cycles through a few dozen distinct products (forward and both
    /// gradients of each projection and attention shape), times the blocks they split into.
    static let capacity = 256
    static let shared = PlanCache<OneDNNMatmulKey, OneDNNMatmulPlan>(capacity: capacity)

    /// The plan for `key`, created (on one OpenMP thread, as it will run) on first use.
    static func plan(_ key: OneDNNMatmulKey, engine: dnnl_engine_t) -> OneDNNMatmulPlan? {
        shared.plan(key) { key in
            OpenMP.setNumThreads?(1)
            return OneDNNMatmulPlan(key, engine: engine)
        }
    }
}

enum OneDNNMatmul {
    /// Products below this many multiply-adds stay with OpenBLAS where it has small-matrix kernels:
    /// OpenBLAS 0.3.21 has them in its SkylakeX kernel set only (and the Cooperlake and
    /// SapphireRapids sets built on it), and there, at the MLP's and attention's sizes, they are as
    /// fast or faster on one core (Xeon: 64×64·64×32 1.9 vs 2.9 µs, 128×32·32×128 7.9 vs 10.5 µs;
    /// 128×30·30×64 6.9 vs 5.2 µs the other way; a oneDNN call adds about 1 µs of plan lookup).
    /// Its other kernel sets pack both operands of every product, and oneDNN's sgemm takes a
    /// transformer's per-head products in two thirds of their time (AMD EPYC, one core: 4.7–5.8 µs
    /// against 6.9–8.6 for 64×32·32×64, 64×64·64×32 and the transposed gradients). The kernel set,
    /// not the CPU, decides: an AVX-512 CPU whose environment sets OPENBLAS_CORETYPE=Haswell gets
    /// no small-matrix kernels (Zen 5 so configured: the dropout-free transformer 1,141–1,337
    /// samples/s with 2^19 here, 1,461–1,487 with 2^15).
    static let minimumWork = BLAS.hasSmallMatrixKernels ? 1 << 19 : 1 << 15

    /// oneDNN takes a product only when its m, n or k is at most this: OpenBLAS's SkylakeX kernels
    /// lose to oneDNN on narrow products (n = 64 or 128: 131 vs 216–232 GFLOP/s; a weight gradient
    /// gᵀ·x with m = 128, n = 256, k = 2048: 159 vs 217) but win on wide square ones (square
    /// 256–1024 through oneDNN: 135–217 GFLOP/s against OpenBLAS's 183–238, in
    /// `Benchmarks/run-core`).
    static let narrowLimit = 128

    /// Products below this many multiply-adds run as one block: splitting costs a thread handoff
    /// (~10 µs), about what 2^20 multiply-adds take on one core.
    static let parallelThreshold = 1 << 20

    /// C ← alpha·op(A)·op(B) + beta·C (+ the row `bias`, only with alpha 1 and beta 0) on row-major
    /// buffers with leading dimensions, split into up
    /// to `threads` blocks of rows (or columns) that run at once on Galen's threads. Returns false,
    /// having written nothing, when oneDNN cannot serve the product, it is below `minimumWork`
    /// or all of m, n and k exceed `narrowLimit`
    /// (tests lower both thresholds to reach small shapes and their splits).
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>? = nil, threads: Int,
        minimumWork: Int = OneDNNMatmul.minimumWork, parallelThreshold: Int = OneDNNMatmul.parallelThreshold,
        narrowLimit: Int = OneDNNMatmul.narrowLimit
    ) -> Bool {
        let work = m * n * k
        guard m > 0, n > 0, k > 0, work >= minimumWork, Swift.min(m, n, k) <= narrowLimit,
            let runtime = OneDNNRuntime.shared
        else { return false }
        let engine = runtime.engine
        let wanted = work >= parallelThreshold ? threads : 1
        if wanted == 1, work < 1 << 19, bias == nil {
            // Below 2^19 multiply-adds (the small products oneDNN takes where OpenBLAS has no
            // small-matrix kernels) through dnnl_sgemm: the kernels the matmul primitive runs
            // on AVX2 (gemm:jit), without its plan lookup, execution context and handle updates,
            // about 2 µs of a 64×64·64×32 attention product's 7 under ONEDNN_VERBOSE (the
            // dropout-free transformer: 344–409 → 402–428 samples/s, alternating runs).
            let (transposed, plain) = (CChar(UInt8(ascii: "T")), CChar(UInt8(ascii: "N")))
            OpenMP.setNumThreads?(1)
            if dnnl_sgemm(
                transposeA ? transposed : plain, transposeB ? transposed : plain, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b,
                Int64(ldb), beta, c, Int64(ldc)) == dnnl_success
            {
                return true
            }
        }
        // Rows when there are enough of them for every block, else columns, else one block.
        let (splitRows, blocks): (Bool, Int) =
            wanted > 1 && m >= 8 * wanted ? (true, wanted)
            : wanted > 1 && n >= 32 * wanted ? (false, wanted) : (true, 1)
        let extent = splitRows ? m : n
        // Every plan is made before anything runs, so a refusal leaves C untouched.
        var plans: [(start: Int, plan: OneDNNMatmulPlan)] = []
        for block in 0..<blocks {
            let start = extent * block / blocks, size = extent * (block + 1) / blocks - start
            let key = OneDNNMatmulKey(
                m: splitRows ? size : m, n: splitRows ? n : size, k: k, transposeA: transposeA,
                transposeB: transposeB, lda: lda, ldb: ldb, ldc: ldc, alpha: alpha, beta: beta, bias: bias != nil)
            guard let plan = OneDNNMatmulCache.plan(key, engine: engine) else { return false }
            plans.append((start, plan))
        }
        func runBlock(_ index: Int) -> Bool {
            let (start, plan) = plans[index]
            if splitRows {
                return plan.run(a + (transposeA ? start : start * lda), b, c + start * ldc, bias: bias)
            }
            return plan.run(a, b + (transposeB ? start * ldb : start), c + start, bias: bias.map { $0 + start })
        }
        if blocks == 1 { return runBlock(0) || failed() }
        let results = UnsafeMutableBufferPointer<Bool>.allocate(capacity: blocks)
        defer { results.deallocate() }
        parallelChunks(blocks) { block in results[block] = runBlock(block) }
        return results.allSatisfy { $0 } || failed()
    }

    /// A created primitive failing to run is not a shape oneDNN refused, and C may be half written,
    /// so falling back would be wrong.
    private static func failed() -> Bool {
        fatalError("oneDNN matmul: a primitive that was created failed to run")
    }
}
