import CDNNL
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// The oneDNN fast path of the 2-D convolutions: forward, backward-data and backward-weights
// primitives of oneDNN 2.x, run on Galen's plain NCHW / OIHW buffers.
//
// Each primitive is created with `dnnl_format_tag_any` for its activations and weights, so oneDNN
// picks the blocked layout its JIT kernels want (nChw16c, OIhw16i16o, ... on AVX-512); operands are
// reordered into and out of that layout around the call, and only where it differs from the
// plain one. Creating a primitive generates code (milliseconds), so primitives and their reorders
// live in a small LRU cache keyed by everything that shapes them, thread count included.
//
// Threads come from OpenMP (libdnnl is built against libgomp). Before creating or running a
// primitive the calling thread's OpenMP thread count is set to `Threads.count`, and after each
// operation its idle OpenMP workers are released: Galen's kernels, OpenBLAS and oneDNN take turns
// on the same cores and never run, or spin, at once.

/// The three oneDNN convolution primitives Galen uses.
enum OneDNNConvKind: Hashable, Sendable {
    /// dst = conv(src, weights) (+ bias).
    case forward
    /// diff_src = convᵀ(diff_dst, weights).
    case backwardData
    /// diff_weights (and diff_bias) from src and diff_dst.
    case backwardWeights
}

/// Everything a primitive depends on. The thread count is part of it because oneDNN splits the
/// work (and sizes the backward-weights reduction buffers) for the thread count it sees at
/// creation time.
struct OneDNNConvKey: Hashable, Sendable {
    let kind: OneDNNConvKind
    let geometry: ConvGeometry
    let bias: Bool
    let threads: Int
}

// MARK: Runtime

/// oneDNN's CPU engine, created on first use and kept for the life of the process. Streams are
/// made per call (see `run`).
final class OneDNNRuntime: @unchecked Sendable {
    let engine: dnnl_engine_t

    /// nil when oneDNN cannot create a CPU engine (then every convolution takes the reference path).
    static let shared: OneDNNRuntime? = OneDNNRuntime()

    private init?() {
        var engine: dnnl_engine_t?
        guard dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success, let engine else { return nil }
        self.engine = engine
    }

    /// Never runs (`shared` lives as long as the process); here for completeness.
    deinit {
        dnnl_engine_destroy(engine)
    }
}

/// The path an environment variable such as `GALEN_CONV` selects (case-insensitive), or `fallback`
/// when it is unset or empty; an unknown value warns once, naming the valid ones, and falls back.
func pathFromEnvironment<Path: RawRepresentable & CaseIterable>(_ variable: String, default fallback: Path) -> Path
where Path.RawValue == String {
    guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else { return fallback }
    if let path = Path(rawValue: value.lowercased()) { return path }
    let valid = Path.allCases.map { "'\($0.rawValue)'" }.joined(separator: " nor ")
    FileHandle.standardError.write(
        Data("galen: warning: \(variable)=\(value) is neither \(valid); using \(fallback.rawValue)\n".utf8))
    return fallback
}

/// OpenMP's `omp_set_num_threads`, looked up in the libgomp that libdnnl loaded (its header and
/// an unversioned libgomp.so to link against are not installed).
enum OpenMP {
    typealias SetThreads = @convention(c) (Int32) -> Void
    static let setNumThreads: SetThreads? = {
        guard let symbol = dlsym(nil, "omp_set_num_threads") else { return nil }
        return unsafeBitCast(symbol, to: SetThreads.self)
    }()
    /// `omp_pause_resource_all` (OpenMP 5.0; libgomp ≥ 9).
    typealias PauseAll = @convention(c) (Int32) -> Int32
    static let pauseAll: PauseAll? = {
        guard let symbol = dlsym(nil, "omp_pause_resource_all") else { return nil }
        return unsafeBitCast(symbol, to: PauseAll.self)
    }()
    /// `omp_pause_soft` in omp.h's omp_pause_resource_t.
    static let pauseSoft: Int32 = 1
}

/// Ends the calling thread's OpenMP thread pool (`omp_pause_resource_all(omp_pause_soft)`), so
/// its workers stop spinning; the next parallel region starts them again.
///
/// libgomp reads its wait policy (OMP_WAIT_POLICY, GOMP_SPINCOUNT) once, when it loads with
/// libdnnl, before any Swift code runs, so Galen cannot shorten the spin itself. Measured on 2
/// cores: left alone, the idle worker burns 4–6 ms of a core after each oneDNN call, and a 512³
/// OpenBLAS sgemm right after a convolution took 2.6–4.3 ms instead of 1.6–2.0. Restarting the
/// pool costs about 60 µs per operation (a batch-1 16-channel 32×32 3×3 forward: 0.035 → 0.10 ms,
/// still no slower than the reference path) and is lost in the noise for large convolutions.
/// libgomp keeps one pool per thread that starts parallel regions, so this never disturbs a
/// region another thread is running.
private func releaseIdleThreads() {
    _ = OpenMP.pauseAll?(OpenMP.pauseSoft)
}

/// Sets the calling thread's OpenMP team size, which is what oneDNN uses. OpenMP keeps the
/// setting per thread, and the cost is a store, so it is simply set before every creation and run.
@inline(__always)
private func useThreads(_ count: Int) {
    OpenMP.setNumThreads?(Int32(count))
}

// MARK: Plans

/// A primitive plus what it takes to feed it Galen's plain buffers: per operand, the layout the
/// primitive chose and the reorder to or from the plain layout when the two differ.
///
/// Immutable once created, and oneDNN primitives may run on several threads at once when each
/// run brings its own scratchpad (user scratchpad mode, as here), hence the Sendable claim.
final class OneDNNConvPlan: @unchecked Sendable {
    struct Operand {
        /// DNNL_ARG_SRC, DNNL_ARG_DIFF_WEIGHTS, ...
        let argument: Int32
        /// Galen's layout: nchw, oihw / goihw, x.
        let plain: dnnl_memory_desc_t
        /// The layout the primitive expects.
        let native: dnnl_memory_desc_t
        /// Read by the primitive (reorder plain → native first) or written (native → plain after).
        let isOutput: Bool
        /// nil when `native` equals `plain`: the primitive then works on Galen's buffer directly.
        let reorder: dnnl_primitive_t?
        let reorderScratchpad: Int
        /// Bytes of a buffer in the native layout (blocked layouts pad channels to the block).
        let nativeBytes: Int
    }

    let key: OneDNNConvKey
    let primitive: dnnl_primitive_t
    let scratchpadBytes: Int
    let operands: [Operand]
    /// oneDNN's name for the implementation it chose, e.g. "jit:avx512_core" or "gemm:jit".
    let implementation: String

    /// Creates the primitive and its reorders, or returns nil when oneDNN rejects the geometry or
    /// offers only its reference implementation (slower than Galen's im2col path).
    init?(_ key: OneDNNConvKey, runtime: OneDNNRuntime) {
        self.key = key
        let g = key.geometry
        useThreads(key.threads)

        guard
            let imagePlain = makeDescriptor([g.batch, g.imageChannels, g.height, g.width], dnnl_nchw),
            let imageAny = makeDescriptor([g.batch, g.imageChannels, g.height, g.width], dnnl_format_tag_any),
            let outPlain = makeDescriptor([g.batch, g.outChannels, g.outH, g.outW], dnnl_nchw),
            let outAny = makeDescriptor([g.batch, g.outChannels, g.outH, g.outW], dnnl_format_tag_any),
            let biasPlain = makeDescriptor([g.outChannels], dnnl_x)
        else { return nil }
        // Galen's weight (Cout, Cin/groups, kH, kW) is, in memory, oneDNN's goihw with g leading.
        let weightDims =
            g.groups == 1
            ? [g.outChannels, g.imageChannels, g.kernelH, g.kernelW]
            : [g.groups, g.groupOutChannels, g.imageChannels / g.groups, g.kernelH, g.kernelW]
        guard let weightPlain = makeDescriptor(weightDims, g.groups == 1 ? dnnl_oihw : dnnl_goihw),
            let weightAny = makeDescriptor(weightDims, dnnl_format_tag_any)
        else { return nil }

        // oneDNN wants the right padding that makes (in + padL + padR - span) / stride + 1 equal the
        // output size exactly; with PyTorch's floor division it can be smaller than the left one
        // (or negative, which oneDNN accepts down to 1 - stride).
        let strides: [Int64] = [Int64(g.strideH), Int64(g.strideW)]
        let dilates: [Int64] = [Int64(g.dilationH - 1), Int64(g.dilationW - 1)]
        let padLeft: [Int64] = [Int64(g.padH), Int64(g.padW)]
        let padRight: [Int64] = [
            Int64((g.outH - 1) * g.strideH + g.dilationH * (g.kernelH - 1) + 1 - g.height - g.padH),
            Int64((g.outW - 1) * g.strideW + g.dilationW * (g.kernelW - 1) + 1 - g.width - g.padW),
        ]

        var attr: dnnl_primitive_attr_t?
        guard dnnl_primitive_attr_create(&attr) == dnnl_success, let attr else { return nil }
        defer { dnnl_primitive_attr_destroy(attr) }
        // Scratchpad from the caller, per call: primitives can then run on several threads at once.
        guard dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success else {
            return nil
        }

        // The forward descriptor: the primitive itself for .forward, the required hint otherwise.
        var forward = dnnl_convolution_desc_t()
        var (src, weights, dst, bias) = (imageAny, weightAny, outAny, biasPlain)
        let withBias = key.bias && key.kind != .backwardData
        let forwardStatus = withUnsafePointer(to: &bias) { biasPointer in
            dnnl_dilated_convolution_forward_desc_init(
                &forward, dnnl_forward_training, dnnl_convolution_direct, &src, &weights,
                key.kind == .forward && withBias ? biasPointer : nil, &dst, strides, dilates, padLeft, padRight)
        }
        guard forwardStatus == dnnl_success else { return nil }
        var forwardDescriptor: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&forwardDescriptor, &forward, attr, runtime.engine, nil) == dnnl_success,
            let forwardDescriptor
        else { return nil }
        defer { dnnl_primitive_desc_destroy(forwardDescriptor) }

        let descriptor: dnnl_primitive_desc_t
        var roles: [(argument: Int32, plain: dnnl_memory_desc_t, isOutput: Bool)]
        switch key.kind {
        case .forward:
            descriptor = forwardDescriptor
            roles = [
                (Int32(DNNL_ARG_SRC), imagePlain, false), (Int32(DNNL_ARG_WEIGHTS), weightPlain, false),
                (Int32(DNNL_ARG_DST), outPlain, true),
            ]
            if withBias { roles.append((Int32(DNNL_ARG_BIAS), biasPlain, false)) }
        case .backwardData:
            var desc = dnnl_convolution_desc_t()
            guard
                dnnl_dilated_convolution_backward_data_desc_init(
                    &desc, dnnl_convolution_direct, &src, &weights, &dst, strides, dilates, padLeft, padRight)
                    == dnnl_success
            else { return nil }
            var created: dnnl_primitive_desc_t?
            guard dnnl_primitive_desc_create(&created, &desc, attr, runtime.engine, forwardDescriptor) == dnnl_success,
                let created
            else { return nil }
            descriptor = created
            roles = [
                (Int32(DNNL_ARG_DIFF_DST), outPlain, false), (Int32(DNNL_ARG_WEIGHTS), weightPlain, false),
                (Int32(DNNL_ARG_DIFF_SRC), imagePlain, true),
            ]
        case .backwardWeights:
            var desc = dnnl_convolution_desc_t()
            let status = withUnsafePointer(to: &bias) { biasPointer in
                dnnl_dilated_convolution_backward_weights_desc_init(
                    &desc, dnnl_convolution_direct, &src, &weights, withBias ? biasPointer : nil, &dst, strides,
                    dilates, padLeft, padRight)
            }
            guard status == dnnl_success else { return nil }
            var created: dnnl_primitive_desc_t?
            guard dnnl_primitive_desc_create(&created, &desc, attr, runtime.engine, forwardDescriptor) == dnnl_success,
                let created
            else { return nil }
            descriptor = created
            roles = [
                (Int32(DNNL_ARG_SRC), imagePlain, false), (Int32(DNNL_ARG_DIFF_DST), outPlain, false),
                (Int32(DNNL_ARG_DIFF_WEIGHTS), weightPlain, true),
            ]
            if withBias { roles.append((Int32(DNNL_ARG_DIFF_BIAS), biasPlain, true)) }
        }
        // The forward descriptor is destroyed by the defer above; the others here.
        let ownsDescriptor = key.kind != .forward
        defer { if ownsDescriptor { dnnl_primitive_desc_destroy(descriptor) } }

        implementation = implementationName(descriptor)
        // oneDNN's "ref:any" loops are far slower than im2col + sgemm: leave such geometries to Galen.
        guard !implementation.hasPrefix("ref") else { return nil }

        var operands: [Operand] = []
        var cleanUp: [dnnl_primitive_t] = []
        func releaseReorders() {
            for reorder in cleanUp { dnnl_primitive_destroy(reorder) }
        }
        for role in roles {
            guard let queried = dnnl_primitive_desc_query_md(descriptor, dnnl_query_exec_arg_md, role.argument) else {
                releaseReorders()
                return nil
            }
            var native = queried.pointee
            var plain = role.plain
            var reorder: dnnl_primitive_t?
            var reorderScratchpad = 0
            if dnnl_memory_desc_equal(&native, &plain) == 0 {
                var reorderDescriptor: dnnl_primitive_desc_t?
                let status =
                    role.isOutput
                    ? dnnl_reorder_primitive_desc_create(
                        &reorderDescriptor, &native, runtime.engine, &plain, runtime.engine, attr)
                    : dnnl_reorder_primitive_desc_create(
                        &reorderDescriptor, &plain, runtime.engine, &native, runtime.engine, attr)
                guard status == dnnl_success, let reorderDescriptor else {
                    releaseReorders()
                    return nil
                }
                defer { dnnl_primitive_desc_destroy(reorderDescriptor) }
                guard let created = makePrimitive(reorderDescriptor) else {
                    releaseReorders()
                    return nil
                }
                reorder = created.primitive
                reorderScratchpad = created.scratchpadBytes
                cleanUp.append(created.primitive)
            }
            operands.append(
                Operand(
                    argument: role.argument, plain: plain, native: native, isOutput: role.isOutput,
                    reorder: reorder, reorderScratchpad: reorderScratchpad,
                    nativeBytes: dnnl_memory_desc_get_size(&native)))
        }
        guard let created = makePrimitive(descriptor) else {
            releaseReorders()
            return nil
        }
        primitive = created.primitive
        scratchpadBytes = created.scratchpadBytes
        self.operands = operands
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        for operand in operands { if let reorder = operand.reorder { dnnl_primitive_destroy(reorder) } }
    }

    /// Runs the primitive on Galen's plain buffers, one per operand argument (`buffers[argument]`),
    /// reordering inputs in and outputs out where the layouts differ; an input already reordered
    /// to the same layout earlier in `session` is reused. Returns false if oneDNN reports an error.
    func run(_ buffers: [Int32: UnsafeMutableRawPointer], session: OneDNNSession) -> Bool {
        useThreads(key.threads)
        if key.threads > 1 { session.usedOpenMPTeam = true }
        // A primitive on OpenMP's threads would be slowed by Galen's spinning workers (a no-op
        // inside a batch part, which runs on those workers).
        yieldCoresToLibraries()
        let runtime = session.runtime
        // A stream per call: oneDNN streams are not meant to be shared by threads executing at
        // once (tests and loader threads may convolve concurrently), and a CPU stream is cheap.
        var stream: dnnl_stream_t?
        guard dnnl_stream_create(&stream, runtime.engine, dnnl_stream_default_flags.rawValue) == dnnl_success,
            let stream
        else { return false }
        defer { dnnl_stream_destroy(stream) }
        var memories: [dnnl_memory_t] = []
        var owned: [(buffer: UnsafeMutableRawPointer, bytes: Int)] = []
        defer {
            for memory in memories { dnnl_memory_destroy(memory) }
            for (buffer, bytes) in owned { deallocateAligned(buffer, bytes: bytes) }
        }
        func memory(_ descriptor: dnnl_memory_desc_t, _ pointer: UnsafeMutableRawPointer) -> dnnl_memory_t? {
            guard let created = makeMemory(descriptor, pointer, engine: runtime.engine) else { return nil }
            memories.append(created)
            return created
        }

        // One scratchpad serves the primitive and its reorders, which run one after the other.
        let scratchpadSize = operands.reduce(scratchpadBytes) { Swift.max($0, $1.reorderScratchpad) }
        var scratchpad: dnnl_memory_t?
        if scratchpadSize > 0 {
            let bytes = allocateAligned(scratchpadSize)
            owned.append((bytes, scratchpadSize))
            guard let made = memory(scratchpadDescriptor(scratchpadSize), bytes) else { return false }
            scratchpad = made
        }
        func execute(_ primitive: dnnl_primitive_t, _ arguments: [dnnl_exec_arg_t]) -> Bool {
            var arguments = arguments
            if let scratchpad { arguments.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: scratchpad)) }
            return dnnl_primitive_execute(primitive, stream, Int32(arguments.count), arguments) == dnnl_success
        }

        var arguments: [dnnl_exec_arg_t] = []
        var outputs: [(reorder: dnnl_primitive_t, from: dnnl_memory_t, to: dnnl_memory_t)] = []
        for operand in operands {
            guard let pointer = buffers[operand.argument] else { return false }
            guard let reorder = operand.reorder else {
                guard let plain = memory(operand.plain, pointer) else { return false }
                arguments.append(dnnl_exec_arg_t(arg: operand.argument, memory: plain))
                continue
            }
            if operand.isOutput {
                let nativeBytes = allocateAligned(operand.nativeBytes)
                owned.append((nativeBytes, operand.nativeBytes))
                guard let plain = memory(operand.plain, pointer), let native = memory(operand.native, nativeBytes) else {
                    return false
                }
                outputs.append((reorder, native, plain))
                arguments.append(dnnl_exec_arg_t(arg: operand.argument, memory: native))
                continue
            }
            if let reused = session.reordered(pointer, operand.native) {
                guard let native = memory(operand.native, reused) else { return false }
                arguments.append(dnnl_exec_arg_t(arg: operand.argument, memory: native))
                continue
            }
            let nativeBytes = session.keep(pointer, operand.native, bytes: operand.nativeBytes)
            guard let plain = memory(operand.plain, pointer), let native = memory(operand.native, nativeBytes),
                execute(reorder, [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: plain), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: native)])
            else {
                session.forget(pointer)
                return false
            }
            arguments.append(dnnl_exec_arg_t(arg: operand.argument, memory: native))
        }
        guard execute(primitive, arguments) else { return false }
        for output in outputs {
            let moved = execute(
                output.reorder,
                [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: output.from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: output.to)])
            guard moved else { return false }
        }
        return dnnl_stream_wait(stream) == dnnl_success
    }
}

/// The oneDNN work of one Galen operation (a forward pass, or the gradients of one backward
/// pass). Inputs reordered into a primitive's layout are kept for the session's later primitives
/// (conv2d's backward-data and backward-weights both read dy in the same blocked layout), and
/// when the session ends OpenMP's worker threads are let go (see `OneDNNConvolution.withSession`).
final class OneDNNSession {
    let runtime: OneDNNRuntime
    private var inputs: [(source: UnsafeMutableRawPointer, layout: dnnl_memory_desc_t, buffer: UnsafeMutableRawPointer, bytes: Int)] = []

    /// The sessions of the batch parts when calls are split across Galen's threads (see
    /// `OneDNNConvolution.batchParts`): one per part, each used by one thread at a time, so that
    /// a part's backward-weights reuses the dy its backward-data reordered.
    private var parts: [OneDNNSession] = []
    /// Whether a primitive ran on OpenMP's threads (their pool is released when the session ends).
    var usedOpenMPTeam = false

    init(_ runtime: OneDNNRuntime) { self.runtime = runtime }

    deinit { for input in inputs { deallocateAligned(input.buffer, bytes: input.bytes) } }

    /// The first `count` part sessions, made on first use.
    func partSessions(_ count: Int) -> [OneDNNSession] {
        while parts.count < count { parts.append(OneDNNSession(runtime)) }
        return Array(parts.prefix(count))
    }

    /// The buffer holding `source` in `layout`, if this session reordered it before. Inputs are
    /// never written during a session, so the copy is still current.
    func reordered(_ source: UnsafeMutableRawPointer, _ layout: dnnl_memory_desc_t) -> UnsafeMutableRawPointer? {
        var layout = layout
        for i in inputs.indices where inputs[i].source == source && dnnl_memory_desc_equal(&inputs[i].layout, &layout) != 0 {
            return inputs[i].buffer
        }
        return nil
    }

    /// A new buffer of `bytes` that will hold `source` in `layout` for the rest of the session.
    func keep(_ source: UnsafeMutableRawPointer, _ layout: dnnl_memory_desc_t, bytes: Int) -> UnsafeMutableRawPointer {
        let buffer = allocateAligned(bytes)
        inputs.append((source, layout, buffer, bytes))
        return buffer
    }

    /// Drops the copies of `source` (after a failed reorder).
    func forget(_ source: UnsafeMutableRawPointer) {
        for input in inputs where input.source == source { deallocateAligned(input.buffer, bytes: input.bytes) }
        inputs.removeAll { $0.source == source }
    }
}

/// Uninitialized bytes at 64-byte alignment (one AVX-512 vector, as oneDNN's own allocations);
/// from `LargeBufferCache` from 1 MiB up, like tensor buffers: a convolution's reordered operands
/// are as large as its activations. Give them back with `deallocateAligned`.
func allocateAligned(_ bytes: Int) -> UnsafeMutableRawPointer {
    LargeBufferCache.take(bytes) ?? UnsafeMutableRawPointer.allocate(byteCount: Swift.max(bytes, 1), alignment: 64)
}

/// Frees a buffer from `allocateAligned(bytes)`.
func deallocateAligned(_ buffer: UnsafeMutableRawPointer, bytes: Int) {
    if !LargeBufferCache.give(buffer, bytes) { buffer.deallocate() }
}

/// A memory object over a caller-owned buffer.
func makeMemory(_ descriptor: dnnl_memory_desc_t, _ pointer: UnsafeMutableRawPointer, engine: dnnl_engine_t)
    -> dnnl_memory_t?
{
    var descriptor = descriptor
    var memory: dnnl_memory_t?
    guard dnnl_memory_create(&memory, &descriptor, engine, pointer) == dnnl_success else { return nil }
    return memory
}

/// oneDNN describes scratchpads as plain u8 vectors.
func scratchpadDescriptor(_ bytes: Int) -> dnnl_memory_desc_t {
    var descriptor = dnnl_memory_desc_t()
    let dims: [Int64] = [Int64(bytes)]
    _ = dnnl_memory_desc_init_by_tag(&descriptor, 1, dims, dnnl_u8, dnnl_x)
    return descriptor
}

/// A plain or `any` f32 memory descriptor of the given dimensions.
private func makeDescriptor(_ dims: [Int], _ tag: dnnl_format_tag_t) -> dnnl_memory_desc_t? {
    var descriptor = dnnl_memory_desc_t()
    let dims64 = dims.map(Int64.init)
    guard dnnl_memory_desc_init_by_tag(&descriptor, Int32(dims.count), dims64, dnnl_f32, tag) == dnnl_success else {
        return nil
    }
    return descriptor
}

/// The primitive for a descriptor and the scratchpad bytes it needs per run.
private func makePrimitive(_ descriptor: dnnl_primitive_desc_t) -> (primitive: dnnl_primitive_t, scratchpadBytes: Int)? {
    var primitive: dnnl_primitive_t?
    guard dnnl_primitive_create(&primitive, descriptor) == dnnl_success, let primitive else { return nil }
    var bytes = 0
    if var scratchpad = dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0)?.pointee {
        bytes = dnnl_memory_desc_get_size(&scratchpad)
    }
    return (primitive, bytes)
}

func implementationName(_ descriptor: dnnl_primitive_desc_t) -> String {
    var name: UnsafePointer<CChar>?
    guard dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else {
        return "?"
    }
    return String(cString: name)
}

// MARK: Cache

/// oneDNN plans by key, least recently used evicted first. A key oneDNN cannot serve is cached as
/// nil, so it falls back to the reference path without trying again on every call. Shared by the
/// convolution and matmul plans.
final class PlanCache<Key: Hashable, Plan: AnyObject>: @unchecked Sendable {
    let capacity: Int
    private let lock = NSLock()
    private var entries: [Key: (plan: Plan?, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0

    init(capacity: Int) { self.capacity = capacity }

    /// The plan for `key`, made by `make` on first use. Creation happens under the lock: concurrent
    /// callers of a new key wait for one JIT compilation instead of running several.
    func plan(_ key: Key, make: (Key) -> Plan?) -> Plan? {
        lock.lock()
        defer { lock.unlock() }
        clock &+= 1
        if let entry = entries[key] {
            entries[key] = (entry.plan, clock)
            return entry.plan
        }
        let plan = make(key)
        if entries.count >= capacity, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            // A plan still running on another thread stays alive through that thread's reference.
            entries[oldest.key] = nil
        }
        entries[key] = (plan, clock)
        return plan
    }

    /// Number of cached keys (tests check the bound).
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }
}

/// The convolution plans.
enum OneDNNPlanCache {
    /// Distinct convolutions a network cycles through per step: forward, backward-data and
    /// backward-weights of each layer shape, at a couple of batch sizes (training, last batch).
    static let capacity = 64
    static let shared = PlanCache<OneDNNConvKey, OneDNNConvPlan>(capacity: capacity)
}

// MARK: Entry points

/// The oneDNN versions of the three convolution kernels. Each returns false when oneDNN cannot
/// serve the geometry (the caller then runs the reference kernel); pointers are Galen's plain
/// NCHW / OIHW buffers, and every call happens inside `withSession`.
enum OneDNNConvolution {
    /// Whether oneDNN could create a CPU engine in this process.
    static var isAvailable: Bool { OneDNNRuntime.shared != nil }

    /// Runs `body` with a session for the oneDNN calls of one operation, or with nil when oneDNN is
    /// unavailable. Afterwards the calling thread's OpenMP workers are released: libgomp keeps
    /// them spinning for milliseconds after each parallel region by default, which would take a
    /// core from the OpenBLAS or Galen kernels that usually come next (see docs/development.md).
    static func withSession<Result>(_ body: (OneDNNSession?) -> Result) -> Result {
        guard let runtime = OneDNNRuntime.shared else { return body(nil) }
        let session = OneDNNSession(runtime)
        let result = body(session)
        withExtendedLifetime(session) {}
        if session.usedOpenMPTeam { releaseIdleThreads() }
        return result
    }

    static func plan(
        _ kind: OneDNNConvKind, _ g: ConvGeometry, bias: Bool, threads: Int = Threads.count
    ) -> OneDNNConvPlan? {
        // An empty batch has nothing to compute; the reference kernels handle it without a primitive.
        guard g.batch > 0, let runtime = OneDNNRuntime.shared else { return nil }
        let key = OneDNNConvKey(kind: kind, geometry: g, bias: bias, threads: threads)
        return OneDNNPlanCache.shared.plan(key) { OneDNNConvPlan($0, runtime: runtime) }
    }

    /// Tests force (true) or forbid (false) the batch split.
    @TaskLocal static var splitOverride: Bool?

    /// How many batch parts a call on `g` runs as: one single-threaded primitive per part on
    /// Galen's threads when the batch has a sample for every thread, else 1 (one primitive on
    /// OpenMP's threads). OpenMP's team restarts after every pause (see `releaseIdleThreads`) and
    /// spins at its barriers: 10–12% of the cycles of LeNet and U-Net training went to libgomp.
    /// Measured against one OpenMP team: LeNet training 18–21k → 22–23k samples/s, LeNet
    /// inference 66–68k → 75–76k; U-Net and ResNet-18 (28) training unchanged within noise; ResNet
    /// inference's peak RSS 642 → 528 MiB. Four parts on two threads (smaller primitives, claimed
    /// as threads come free) were slower: U-Net 113 → 93–96 samples/s, ResNet-18 (28) 63–65 → 56–57.
    ///
    /// Large layers whose weights outweigh their activations run as one OpenMP-parallel primitive
    /// instead: split by batch, every thread streams all the weights (and, backward, fills a
    /// weight gradient of its own that is summed afterwards), while oneDNN's own threading divides
    /// the output channels. On the 2-core AVX2 machine (ONEDNN_VERBOSE, ms per whole batch),
    /// ResNet-18 (28)'s 512-channel 4×4 layers at batch 128: backward-weights 144 split → 79–98
    /// whole, backward-data 84 → 58–64, forward 76 → 68–80. Smaller ones gain little: the
    /// 256-channel 7×7 layers 66 → 56–61, 48 → 44–46 and 56 → 57–58, U-Net's 128- and 256-channel
    /// bottleneck 3–8% per primitive, which OpenMP's restart after each operation and its
    /// barriers (hit hardest by neighbours' load) can take back; they stay split
    /// (`wholeBatchMinimumWeights`).
    static func batchParts(_ g: ConvGeometry, threads: Int = Threads.count) -> Int {
        guard threads > 1, g.batch >= threads, splitOverride ?? true else { return 1 }
        if splitOverride == nil {
            let weights = g.outChannels &* g.groupColumnRows
            let activations = g.batch / threads &* Swift.max(g.imageChannels &* g.imageArea, g.outChannels &* g.outArea)
            if weights >= wholeBatchMinimumWeights && 2 &* weights >= activations { return 1 }
        }
        return threads
    }

    /// The fewest weights (4 MB, beyond a core's L2) for which a layer runs as one OpenMP
    /// primitive (see `batchParts`).
    static let wholeBatchMinimumWeights = 1 << 20

    /// Runs `body(plan, first sample, part session, part)` once per batch part: the whole batch
    /// with one OpenMP-parallel plan, or each part with a single-threaded plan on its own Galen
    /// thread. Every plan is made before anything runs, so a refusal leaves the outputs untouched.
    /// `parts` is `batchParts(g)`, passed in by callers that size buffers by it, so that both see
    /// the same count even if the thread count changes meanwhile.
    private static func runByBatch(
        _ session: OneDNNSession, _ kind: OneDNNConvKind, _ g: ConvGeometry, bias: Bool, parts: Int? = nil,
        _ body: (OneDNNConvPlan, Int, OneDNNSession, Int) -> Bool
    ) -> Bool {
        let parts = parts ?? batchParts(g)
        if parts == 1 {
            guard let plan = plan(kind, g, bias: bias) else { return false }
            return body(plan, 0, session, 0)
        }
        var plans: [(first: Int, plan: OneDNNConvPlan)] = []
        for part in 0..<parts {
            let first = g.batch * part / parts, end = g.batch * (part + 1) / parts
            guard let plan = plan(kind, g.withBatch(end - first), bias: bias, threads: 1) else { return false }
            plans.append((first, plan))
        }
        let sessions = session.partSessions(parts)
        let succeeded = UnsafeMutableBufferPointer<Bool>.allocate(capacity: parts)
        defer { succeeded.deallocate() }
        parallelChunks(parts, threads: parts) { part in
            succeeded[part] = body(plans[part].plan, plans[part].first, sessions[part], part)
        }
        return succeeded.allSatisfy { $0 }
    }

    /// y = conv(x, weight) + bias (see `convolutionForward`); y is overwritten.
    static func forward(
        _ session: OneDNNSession, _ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>
    ) -> Bool {
        runByBatch(session, .forward, g, bias: bias != nil) { plan, first, partSession, _ in
            var buffers: [Int32: UnsafeMutableRawPointer] = [
                Int32(DNNL_ARG_SRC): UnsafeMutableRawPointer(mutating: x + first &* g.imageChannels &* g.imageArea),
                Int32(DNNL_ARG_WEIGHTS): UnsafeMutableRawPointer(mutating: weight),
                Int32(DNNL_ARG_DST): UnsafeMutableRawPointer(y + first &* g.outChannels &* g.outArea),
            ]
            if let bias { buffers[Int32(DNNL_ARG_BIAS)] = UnsafeMutableRawPointer(mutating: bias) }
            return plan.run(buffers, session: partSession)
        }
    }

    /// x = convᵀ(y, weight) (+ bias per image channel, for the transposed convolution's forward);
    /// see `convolutionAdjoint`. x is overwritten.
    static func backwardData(
        _ session: OneDNNSession, _ g: ConvGeometry, y: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, x: UnsafeMutablePointer<Float>
    ) -> Bool {
        let ran = runByBatch(session, .backwardData, g, bias: false) { plan, first, partSession, _ in
            let buffers: [Int32: UnsafeMutableRawPointer] = [
                Int32(DNNL_ARG_DIFF_DST): UnsafeMutableRawPointer(mutating: y + first &* g.outChannels &* g.outArea),
                Int32(DNNL_ARG_WEIGHTS): UnsafeMutableRawPointer(mutating: weight),
                Int32(DNNL_ARG_DIFF_SRC): UnsafeMutableRawPointer(x + first &* g.imageChannels &* g.imageArea),
            ]
            return plan.run(buffers, session: partSession)
        }
        guard ran else { return false }
        if let bias { addChannelBias(x, bias, planes: g.batch &* g.imageChannels, channels: g.imageChannels, area: g.imageArea) }
        return true
    }

    /// dW = Σ dy ⋆ x (overwritten) and, when `dBias` is given, dBias = Σ dy per output channel.
    static func backwardWeights(
        _ session: OneDNNSession, _ g: ConvGeometry, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
        dW: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?
    ) -> Bool {
        // Split by batch, each part after the first sums into its own buffers, added to dW and
        // dBias afterwards in part order (so the bits depend only on the thread count).
        let parts = batchParts(g)
        let weightCount = g.outChannels &* g.groupColumnRows
        let biasCount = dBias == nil ? 0 : g.outChannels
        let partialCount = weightCount &+ biasCount
        let partialBytes = (parts &- 1) &* partialCount &* MemoryLayout<Float>.stride
        let partials = parts > 1 ? allocateAligned(partialBytes).assumingMemoryBound(to: Float.self) : nil
        defer { if let partials { deallocateAligned(partials, bytes: partialBytes) } }
        let ran = runByBatch(session, .backwardWeights, g, bias: dBias != nil, parts: parts) {
            plan, first, partSession, part in
            let partial = part == 0 ? nil : partials! + (part &- 1) &* partialCount
            var buffers: [Int32: UnsafeMutableRawPointer] = [
                Int32(DNNL_ARG_SRC): UnsafeMutableRawPointer(mutating: x + first &* g.imageChannels &* g.imageArea),
                Int32(DNNL_ARG_DIFF_DST): UnsafeMutableRawPointer(mutating: dy + first &* g.outChannels &* g.outArea),
                Int32(DNNL_ARG_DIFF_WEIGHTS): UnsafeMutableRawPointer(partial ?? dW),
            ]
            if let dBias { buffers[Int32(DNNL_ARG_DIFF_BIAS)] = UnsafeMutableRawPointer(partial.map { $0 + weightCount } ?? dBias) }
            return plan.run(buffers, session: partSession)
        }
        guard ran else { return false }
        if let partials {
            addPartialSums(partials, stride: partialCount, count: parts &- 1, into: dW, length: weightCount)
            if let dBias {
                for part in 0..<(parts &- 1) {
                    let partial = partials + (part &* partialCount &+ weightCount)
                    for i in 0..<biasCount { dBias[i] += partial[i] }
                }
            }
        }
        return true
    }

    /// oneDNN's implementation names for the three primitives of a geometry, nil where it falls
    /// back (for tests and diagnostics).
    static func implementations(_ g: ConvGeometry, bias: Bool) -> [OneDNNConvKind: String?] {
        var names: [OneDNNConvKind: String?] = [:]
        for kind in [OneDNNConvKind.forward, .backwardData, .backwardWeights] {
            names[kind] = .some(plan(kind, g, bias: bias)?.implementation)
        }
        return names
    }
}

/// Adds bias[c] to every element of each [area] plane of a [planes] = [batch × channels] tensor.
private func addChannelBias(
    _ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, planes: Int, channels: Int, area: Int
) {
    parallelRanges(count: planes, grain: Swift.max(1, elementwiseGrain / Swift.max(1, area))) { start, end in
        for plane in start..<end {
            let value = bias[plane % channels]
            let row = x + plane &* area
            for i in 0..<area { row[i] += value }
        }
    }
}

/// Adds `count` partial sums, `stride` floats apart from `partials`, into the first `length`
/// floats of `target`, one partial after the other: the same order for every element, so the bits
/// depend only on how many partials there are (the batch parts of a split weight gradient).
func addPartialSums(
    _ partials: UnsafePointer<Float>, stride: Int, count: Int, into target: UnsafeMutablePointer<Float>, length: Int
) {
    // Whole rows of adds, partial after partial: vectorized.
    parallelRanges(count: length, grain: elementwiseGrain) { start, end in
        for part in 0..<count {
            let partial = partials + part &* stride
            for i in start..<end { target[i] += partial[i] }
        }
    }
}
