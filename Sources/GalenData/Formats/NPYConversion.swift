import Galen

// Conversions between NPY arrays and Galen's tensors. Each dtype gets one tight loop over raw
// bytes (unaligned loads: an array inside an .npz member can start at any offset); byte swapping
// and Fortran-order transposition happen here, so readers keep the bytes as stored.

// MARK: - To Galen tensors

extension NPYArray {
    /// The values as a row-major Float32 tensor of the same shape.
    ///
    /// float32 is copied as is; float64 and 32/64-bit integers round to the nearest Float32;
    /// float16 widens exactly (subnormals, infinities and NaN payloads included); bool becomes 0
    /// or 1 (any nonzero byte counts as true).
    public func floatTensor() -> Tensor {
        let count = self.count
        let storage = TensorStorage(uninitializedCount: count)
        let output = storage.pointer
        if count > 0 {
            rowMajorBytes().withUnsafeBytes { raw in
                let big = isBigEndian
                switch dtype {
                case .bool: for index in 0..<count { output[index] = raw[index] != 0 ? 1 : 0 }
                case .uint8: for index in 0..<count { output[index] = Float(raw[index]) }
                case .int8: for index in 0..<count { output[index] = Float(Int8(bitPattern: raw[index])) }
                case .uint16: decode(raw, count, big, output, as: UInt16.self) { Float($0) }
                case .int16: decode(raw, count, big, output, as: UInt16.self) { Float(Int16(bitPattern: $0)) }
                case .uint32: decode(raw, count, big, output, as: UInt32.self) { Float($0) }
                case .int32: decode(raw, count, big, output, as: UInt32.self) { Float(Int32(bitPattern: $0)) }
                case .uint64: decode(raw, count, big, output, as: UInt64.self) { Float($0) }
                case .int64: decode(raw, count, big, output, as: UInt64.self) { Float(Int64(bitPattern: $0)) }
                case .float16: decode(raw, count, big, output, as: UInt16.self) { Float(bitPattern: float32Bits(fromFloat16Bits: $0)) }
                case .float32:
                    if big {
                        decode(raw, count, big, output, as: UInt32.self) { Float(bitPattern: $0) }
                    } else {
                        UnsafeMutableRawPointer(output).copyMemory(from: raw.baseAddress!, byteCount: count * 4)
                    }
                case .float64: decode(raw, count, big, output, as: UInt64.self) { Float(Double(bitPattern: $0)) }
                }
            }
        }
        return Tensor(storage: storage, shape: shape)
    }

    /// The values as a row-major `IntTensor` of the same shape, for integer and bool data (bool
    /// gives 0 or 1).
    ///
    /// Throws for floating-point data, which has no exact integer meaning, and for uint64 values
    /// above `Int.max`.
    public func intTensor() throws -> IntTensor {
        guard !dtype.isFloatingPoint else {
            throw DataFormatError(
                source: source, message: "intTensor() needs integer or bool data, not \(descr); use floatTensor()")
        }
        let count = self.count
        let values = [Int](unsafeUninitializedCapacity: count) { output, initialized in
            guard count > 0, let output = output.baseAddress else { return }
            rowMajorBytes().withUnsafeBytes { raw in
                let big = isBigEndian
                switch dtype {
                case .bool: for index in 0..<count { output[index] = raw[index] != 0 ? 1 : 0 }
                case .uint8: for index in 0..<count { output[index] = Int(raw[index]) }
                case .int8: for index in 0..<count { output[index] = Int(Int8(bitPattern: raw[index])) }
                case .uint16: decode(raw, count, big, output, as: UInt16.self) { Int($0) }
                case .int16: decode(raw, count, big, output, as: UInt16.self) { Int(Int16(bitPattern: $0)) }
                case .uint32: decode(raw, count, big, output, as: UInt32.self) { Int($0) }
                case .int32: decode(raw, count, big, output, as: UInt32.self) { Int(Int32(bitPattern: $0)) }
                // Values above Int.max wrap to negative numbers here and are reported below.
                case .uint64, .int64: decode(raw, count, big, output, as: UInt64.self) { Int(truncatingIfNeeded: $0) }
                case .float16, .float32, .float64: break  // refused above
                }
            }
            initialized = count
        }
        if dtype == .uint64, let index = values.firstIndex(where: { $0 < 0 }) {
            throw DataFormatError(
                source: source,
                message: "uint64 value \(UInt64(bitPattern: Int64(values[index]))) at index \(index) does not fit in Int")
        }
        return IntTensor(values, shape: shape)
    }

    /// The element bytes in row-major (C) order, in the stored byte order: `bytes` itself unless
    /// the array is stored in Fortran order with more than one non-trivial axis.
    func rowMajorBytes() -> [UInt8] {
        guard isFortranOrder, shape.filter({ $0 > 1 }).count > 1 else { return bytes }
        return [UInt8](unsafeUninitializedCapacity: bytes.count) { output, initialized in
            bytes.withUnsafeBytes { input in
                let source = input.baseAddress!
                let destination = UnsafeMutableRawPointer(output.baseAddress!)
                switch dtype.byteSize {
                case 1: transposeFortran(source, destination, shape: shape, as: UInt8.self)
                case 2: transposeFortran(source, destination, shape: shape, as: UInt16.self)
                case 4: transposeFortran(source, destination, shape: shape, as: UInt32.self)
                default: transposeFortran(source, destination, shape: shape, as: UInt64.self)
                }
            }
            initialized = bytes.count
        }
    }
}

/// Converts `count` stored elements of type `Stored` (in the given byte order) with `convert`.
@inline(__always)
private func decode<Stored: FixedWidthInteger, Output>(
    _ raw: UnsafeRawBufferPointer, _ count: Int, _ bigEndian: Bool, _ output: UnsafeMutablePointer<Output>,
    as: Stored.Type, _ convert: (Stored) -> Output
) {
    let base = raw.baseAddress!
    let size = MemoryLayout<Stored>.size
    if bigEndian {
        for index in 0..<count {
            output[index] = convert(Stored(bigEndian: base.loadUnaligned(fromByteOffset: index &* size, as: Stored.self)))
        }
    } else {
        for index in 0..<count {
            output[index] = convert(Stored(littleEndian: base.loadUnaligned(fromByteOffset: index &* size, as: Stored.self)))
        }
    }
}

/// Copies a column-major array of `shape` into row-major order. The output is walked in order,
/// one innermost row at a time, while the input index advances by each axis's column-major stride.
private func transposeFortran<Element>(
    _ source: UnsafeRawPointer, _ destination: UnsafeMutableRawPointer, shape: [Int], as: Element.Type
) {
    let rank = shape.count
    var strides = [Int](repeating: 1, count: rank)
    for axis in 1..<rank { strides[axis] = strides[axis - 1] * shape[axis - 1] }
    let innerCount = shape[rank - 1]
    let innerStride = strides[rank - 1]
    let total = shape.reduce(1, *)
    guard total > 0 else { return }
    let size = MemoryLayout<Element>.size
    var index = [Int](repeating: 0, count: rank - 1)
    var start = 0  // input element of the current row's first value
    var written = 0
    while written < total {
        for inner in 0..<innerCount {
            let value = source.loadUnaligned(fromByteOffset: (start &+ inner &* innerStride) &* size, as: Element.self)
            destination.storeBytes(of: value, toByteOffset: (written &+ inner) &* size, as: Element.self)
        }
        written += innerCount
        var axis = rank - 2
        while axis >= 0 {
            index[axis] += 1
            start += strides[axis]
            if index[axis] < shape[axis] { break }
            start -= strides[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}

// MARK: - From Galen tensors

extension NPYArray {
    /// The values of `tensor` (any layout) in row-major order as float32, or as float64 when
    /// `dtype` is `.float64`, little-endian.
    public init(_ tensor: Tensor, dtype: DType = .float32) {
        check(
            dtype == .float32 || dtype == .float64,
            "NPYArray(_:dtype:): a Float tensor is stored as float32 or float64, not \(dtype)")
        // detach() first so that making a strided view contiguous records no autodiff node.
        let values = tensor.detach().contiguous()
        let count = values.count
        let bytes = withExtendedLifetime(values) {
            let input = values.storage.pointer + values.offset
            return [UInt8](unsafeUninitializedCapacity: count * dtype.byteSize) { output, initialized in
                guard let base = output.baseAddress else { return }
                if dtype == .float32 {
                    UnsafeMutableRawPointer(base).copyMemory(from: input, byteCount: count * 4)
                } else {
                    let raw = UnsafeMutableRawPointer(base)
                    for index in 0..<count {
                        raw.storeBytes(of: Double(input[index]).bitPattern.littleEndian, toByteOffset: index * 8, as: UInt64.self)
                    }
                }
                initialized = count * dtype.byteSize
            }
        }
        self.init(validated: dtype, bigEndian: false, shape: tensor.shape, fortranOrder: false, bytes: bytes, source: "NPY array in memory")
    }

    /// The values of `ints` as little-endian integers of `dtype` (int64 by default; uint8 for
    /// images and labels), or bool (nonzero → true). Every value must fit the type.
    public init(_ ints: IntTensor, dtype: DType = .int64) {
        check(!dtype.isFloatingPoint, "NPYArray(_:dtype:): an IntTensor is stored as an integer or bool dtype, not \(dtype)")
        let scalars = ints.scalars
        var bytes: [UInt8] = []
        bytes.reserveCapacity(scalars.count * dtype.byteSize)
        func append<Stored: FixedWidthInteger>(as: Stored.Type) {
            for value in scalars {
                check(
                    Stored(exactly: value) != nil,
                    "NPYArray(_:dtype:): \(value) does not fit in \(dtype)")
                withUnsafeBytes(of: Stored(value).littleEndian) { bytes += $0 }
            }
        }
        switch dtype {
        case .bool: bytes = scalars.map { $0 != 0 ? 1 : 0 }
        case .uint8: append(as: UInt8.self)
        case .int8: append(as: Int8.self)
        case .uint16: append(as: UInt16.self)
        case .int16: append(as: Int16.self)
        case .uint32: append(as: UInt32.self)
        case .int32: append(as: Int32.self)
        case .uint64: append(as: UInt64.self)
        case .int64: append(as: Int64.self)
        case .float16, .float32, .float64: break  // refused above
        }
        self.init(validated: dtype, bigEndian: false, shape: ints.shape, fortranOrder: false, bytes: bytes, source: "NPY array in memory")
    }
}
