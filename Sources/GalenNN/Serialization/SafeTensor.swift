import Foundation
import Galen

// The raw bytes are copied to and from Galen's buffers without byte swapping.
#if _endian(big)
#error("Galen's safetensors support assumes a little-endian host, like the file format")
#endif

/// One tensor as a safetensors file stores it: an element type, a shape, and the elements'
/// little-endian bytes in row-major order.
///
/// Converts to and from Galen's tensors: `SafeTensor(tensor)` / `floatTensor()` for Float32 data,
/// `SafeTensor(ints, dtype:)` / `intTensor()` for integer data.
public struct SafeTensor: Equatable, Sendable {
    /// The element types Galen reads. It writes all of them too; conversions from Galen tensors
    /// produce F32, F64 and the integer types.
    public enum DType: String, CaseIterable, Sendable {
        case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
        case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

        /// Bytes per element.
        public var byteSize: Int {
            switch self {
            case .f64, .i64: return 8
            case .f32, .i32: return 4
            case .f16, .bf16, .i16: return 2
            case .i8, .u8, .bool: return 1
            }
        }

        /// Whether elements are floating-point numbers (`intTensor()` refuses these).
        public var isFloatingPoint: Bool {
            switch self {
            case .f64, .f32, .f16, .bf16: return true
            case .i64, .i32, .i16, .i8, .u8, .bool: return false
            }
        }

        /// The position of this type in the reference implementation's `Dtype` enum, which lists
        /// types by increasing alignment. Writers sort tensors by it (largest first) so that every
        /// tensor's data starts at a multiple of its element size.
        var referenceRank: Int {
            switch self {
            case .bool: return 0
            case .u8: return 1
            case .i8: return 2
            case .i16: return 3
            case .f16: return 4
            case .bf16: return 5
            case .i32: return 6
            case .f32: return 7
            case .f64: return 8
            case .i64: return 9
            }
        }
    }

    /// The element type.
    public let dtype: DType
    /// The size of each dimension; `[]` for a scalar.
    public let shape: [Int]
    /// The elements' bytes. For a tensor read from a file this is a slice of the whole file's
    /// bytes (shared, not copied), so indices start at `bytes.startIndex`, not 0.
    let bytes: Data

    /// Number of elements.
    public var count: Int { bytes.count / dtype.byteSize }

    /// Number of bytes of element data.
    public var byteCount: Int { bytes.count }

    /// A copy of the raw little-endian element bytes, indexed from 0.
    public var data: Data { Data(bytes) }

    /// Calls `body` with the raw little-endian element bytes, without copying them.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeBytes(body)
    }

    /// A tensor from raw little-endian bytes, e.g. to store F16 data Galen has no tensor type for.
    ///
    /// Throws when a dimension is negative or `data` does not hold exactly the elements of `shape`.
    public init(dtype: DType, shape: [Int], data: Data) throws {
        let label = "SafeTensor(dtype: \(dtype.rawValue), shape: \(shape))"
        guard let count = Shape.checkedCount(shape) else {
            throw DataFormatError(source: label, message: "a dimension is negative or the element count overflows")
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, byteCount == data.count else {
            throw DataFormatError(
                source: label, message: "\(data.count) bytes do not hold \(count) \(dtype.rawValue) elements")
        }
        self.init(validatedDType: dtype, shape: shape, bytes: data)
    }

    /// For callers that have already checked that `bytes` holds exactly the elements of `shape`.
    init(validatedDType dtype: DType, shape: [Int], bytes: Data) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }
}

// MARK: - From Galen tensors

extension SafeTensor {
    /// The values of `tensor` (any layout) as F32, or as F64 when `dtype` is `.f64`.
    public init(_ tensor: Tensor, dtype: DType = .f32) {
        check(
            dtype == .f32 || dtype == .f64,
            "SafeTensor(_:dtype:): a Float tensor is stored as F32 or F64, not \(dtype.rawValue)")
        // detach() first so that making a strided view contiguous records no autodiff node.
        let values = tensor.detach().contiguous()
        let count = values.count
        let bytes: Data = withExtendedLifetime(values) {
            let source = values.storage.pointer + values.offset
            if dtype == .f32 {
                return Data(bytes: source, count: count * MemoryLayout<Float>.stride)
            }
            var wide = Data(count: count * MemoryLayout<Double>.stride)
            // storeBytes, not a typed pointer: a small Data keeps its bytes inline, with no
            // guarantee of 8-byte alignment.
            wide.withUnsafeMutableBytes { raw in
                for index in 0..<count { raw.storeBytes(of: Double(source[index]), toByteOffset: index * 8, as: Double.self) }
            }
            return wide
        }
        self.init(validatedDType: dtype, shape: tensor.shape, bytes: bytes)
    }

    /// The values of `ints` as `dtype`: an integer type, or BOOL for a tensor of 0s and 1s.
    ///
    /// Every value must fit the type (e.g. 0...255 for U8); storing labels or indices in a type
    /// too small for them is a programming error, so it stops with a message, like a shape mismatch.
    public init(_ ints: IntTensor, dtype: DType = .i64) {
        check(!dtype.isFloatingPoint, "SafeTensor(_:dtype:): an IntTensor cannot be stored as \(dtype.rawValue)")
        let values = ints.scalars
        let range: ClosedRange<Int>
        switch dtype {
        case .i64: range = Int.min...Int.max
        case .i32: range = Int(Int32.min)...Int(Int32.max)
        case .i16: range = Int(Int16.min)...Int(Int16.max)
        case .i8: range = Int(Int8.min)...Int(Int8.max)
        case .u8: range = 0...255
        default: range = 0...1  // .bool
        }
        if dtype != .i64 {
            for (index, value) in values.enumerated() {
                check(
                    range.contains(value),
                    "SafeTensor(_:dtype:): value \(value) at index \(index) does not fit \(dtype.rawValue) (\(range))")
            }
        }
        var bytes = Data(count: values.count * dtype.byteSize)
        bytes.withUnsafeMutableBytes { raw in
            switch dtype {
            case .i64:
                values.withUnsafeBytes { raw.copyMemory(from: $0) }
            case .i32:
                for (index, value) in values.enumerated() { raw.storeBytes(of: Int32(value), toByteOffset: index * 4, as: Int32.self) }
            case .i16:
                for (index, value) in values.enumerated() { raw.storeBytes(of: Int16(value), toByteOffset: index * 2, as: Int16.self) }
            case .i8:
                for (index, value) in values.enumerated() { raw[index] = UInt8(bitPattern: Int8(value)) }
            default:  // .u8, .bool: range-checked above
                for (index, value) in values.enumerated() { raw[index] = UInt8(value) }
            }
        }
        self.init(validatedDType: dtype, shape: ints.shape, bytes: bytes)
    }
}

// MARK: - To Galen tensors

extension SafeTensor {
    /// The values as a Float32 tensor of the same shape.
    ///
    /// F32 is copied as is; F64 and I64 round to the nearest Float32; F16 and BF16 widen exactly
    /// (subnormals, infinities and NaN payloads included); BOOL becomes 0 or 1 (any nonzero byte
    /// counts as true). Every current dtype converts; `throws` leaves room for types that have no
    /// Float32 meaning.
    public func floatTensor() throws -> Tensor {
        let count = self.count
        let storage = TensorStorage(uninitializedCount: count)
        let output = storage.pointer
        bytes.withUnsafeBytes { raw in
            // loadUnaligned: other writers (MLX, hand-made files) do not always align tensor data.
            switch dtype {
            case .f32:
                if count > 0 { UnsafeMutableRawPointer(output).copyMemory(from: raw.baseAddress!, byteCount: count * 4) }
            case .f64:
                for index in 0..<count { output[index] = Float(raw.loadUnaligned(fromByteOffset: index * 8, as: Double.self)) }
            case .f16:
                for index in 0..<count {
                    let half = raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)
                    output[index] = Float(bitPattern: float32Bits(fromFloat16Bits: half))
                }
            case .bf16:
                for index in 0..<count {
                    let brain = raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)
                    output[index] = Float(bitPattern: float32Bits(fromBFloat16Bits: brain))
                }
            case .i64:
                for index in 0..<count { output[index] = Float(raw.loadUnaligned(fromByteOffset: index * 8, as: Int64.self)) }
            case .i32:
                for index in 0..<count { output[index] = Float(raw.loadUnaligned(fromByteOffset: index * 4, as: Int32.self)) }
            case .i16:
                for index in 0..<count { output[index] = Float(raw.loadUnaligned(fromByteOffset: index * 2, as: Int16.self)) }
            case .i8:
                for index in 0..<count { output[index] = Float(Int8(bitPattern: raw[index])) }
            case .u8:
                for index in 0..<count { output[index] = Float(raw[index]) }
            case .bool:
                for index in 0..<count { output[index] = raw[index] != 0 ? 1 : 0 }
            }
        }
        return Tensor(storage: storage, shape: shape)
    }

    /// The values as an `IntTensor` of the same shape, for integer and BOOL data (BOOL gives 0 or
    /// 1). Throws for floating-point data, which has no exact integer meaning.
    public func intTensor() throws -> IntTensor {
        guard !dtype.isFloatingPoint else {
            throw DataFormatError(
                source: "SafeTensor(dtype: \(dtype.rawValue), shape: \(shape))",
                message: "intTensor() needs integer or BOOL data, not \(dtype.rawValue); use floatTensor()")
        }
        let count = self.count
        let values = [Int](unsafeUninitializedCapacity: count) { output, initialized in
            bytes.withUnsafeBytes { raw in
                switch dtype {
                case .i64:
                    for index in 0..<count { output[index] = Int(raw.loadUnaligned(fromByteOffset: index * 8, as: Int64.self)) }
                case .i32:
                    for index in 0..<count { output[index] = Int(raw.loadUnaligned(fromByteOffset: index * 4, as: Int32.self)) }
                case .i16:
                    for index in 0..<count { output[index] = Int(raw.loadUnaligned(fromByteOffset: index * 2, as: Int16.self)) }
                case .i8:
                    for index in 0..<count { output[index] = Int(Int8(bitPattern: raw[index])) }
                case .u8:
                    for index in 0..<count { output[index] = Int(raw[index]) }
                default:  // .bool; floating-point types were refused above
                    for index in 0..<count { output[index] = raw[index] != 0 ? 1 : 0 }
                }
            }
            initialized = count
        }
        return IntTensor(values, shape: shape)
    }
}

extension SafeTensor: CustomStringConvertible {
    /// The dtype, shape and size, e.g. `SafeTensor(F32, shape: [2, 3], 24 bytes)`.
    public var description: String {
        "SafeTensor(\(dtype.rawValue), shape: \(shape), \(byteCount) bytes)"
    }
}
