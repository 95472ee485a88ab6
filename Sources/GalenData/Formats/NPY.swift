import Galen

/// One array in NumPy's `.npy` format: the element type and byte order, the shape, whether the
/// elements are stored in Fortran (column-major) order, and the element bytes exactly as stored.
///
/// Reading accepts format versions 1.0, 2.0 and 3.0, every numeric dtype in either byte order
/// (`|b1`, `|u1`, `|i1`, `<u2` … `<u8`, `<i2` … `<i8`, `<f2`, `<f4`, `<f8` and their `>` twins) and
/// both memory orders. It treats the file as untrusted: a bad magic string, an unknown version, a
/// malformed header, an unsupported dtype (object arrays `|O` are refused: they are pickles) or too
/// few data bytes throw a `DataFormatError` naming the file, never crash, and nothing is allocated
/// beyond what the file's bytes can fill.
///
/// ```swift
/// let array = try NPYArray(contentsOf: "weights.npy")
/// let x = array.floatTensor()            // any dtype, row-major, Float32
/// try NPYArray(x).write(toFile: "copy.npy")
/// ```
///
/// Conversions (`floatTensor()`, `intTensor()`) always produce row-major values: a Fortran-order
/// array is transposed on the way. Equality compares contents and ignores `source`.
public struct NPYArray: Sendable {
    /// The element types of NumPy's numeric arrays; the raw value is NumPy's type code without
    /// the byte-order character (`f4`).
    public enum DType: String, CaseIterable, Sendable {
        case bool = "b1", uint8 = "u1", int8 = "i1", uint16 = "u2", int16 = "i2", uint32 = "u4", int32 = "i4"
        case uint64 = "u8", int64 = "i8", float16 = "f2", float32 = "f4", float64 = "f8"

        /// Bytes per element.
        public var byteSize: Int {
            switch self {
            case .bool, .uint8, .int8: return 1
            case .uint16, .int16, .float16: return 2
            case .uint32, .int32, .float32: return 4
            case .uint64, .int64, .float64: return 8
            }
        }

        /// Whether elements are floating-point numbers (`intTensor()` refuses these).
        public var isFloatingPoint: Bool { self == .float16 || self == .float32 || self == .float64 }
    }

    /// The element type.
    public let dtype: DType
    /// Whether multi-byte elements are stored most significant byte first (`>`). Always false for
    /// one-byte types.
    public let isBigEndian: Bool
    /// The size of each dimension; `[]` for a 0-d (scalar) array.
    public let shape: [Int]
    /// Whether `bytes` holds the elements in column-major (Fortran) order.
    public let isFortranOrder: Bool
    /// The element bytes as stored: `count × dtype.byteSize` bytes in the stored byte order and
    /// memory order.
    public let bytes: [UInt8]
    /// Where the array came from, for error messages: a file path, `NPZ member x.npy of file y`,
    /// or a label for arrays made in memory.
    public let source: String

    /// Number of elements.
    public var count: Int { bytes.count / dtype.byteSize }

    /// NumPy's type string for the element type and byte order, e.g. `<f4`, `>i2`, `|u1`.
    public var descr: String { Self.descr(dtype, bigEndian: isBigEndian) }

    /// NumPy's type string: one-byte types take `|` (byte order does not apply), others `<` or `>`.
    static func descr(_ dtype: DType, bigEndian: Bool) -> String {
        (dtype.byteSize == 1 ? "|" : bigEndian ? ">" : "<") + dtype.rawValue
    }

    /// An array from element bytes in the given byte order and memory order.
    ///
    /// Throws when a dimension is negative or `bytes` does not hold exactly the elements of `shape`.
    public init(
        dtype: DType, shape: [Int], bytes: [UInt8], bigEndian: Bool = false, fortranOrder: Bool = false,
        source: String = "NPY array in memory"
    ) throws {
        guard let count = Shape.checkedCount(shape) else {
            throw DataFormatError(source: source, message: "shape \(shape) has a negative dimension or too many elements")
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, byteCount == bytes.count else {
            throw DataFormatError(
                source: source, message: "\(bytes.count) bytes do not hold the \(count) elements of shape \(shape) as \(dtype.rawValue)")
        }
        self.init(validated: dtype, bigEndian: bigEndian, shape: shape, fortranOrder: fortranOrder, bytes: bytes, source: source)
    }

    /// For callers that have checked that `bytes` holds exactly the elements of `shape`.
    init(validated dtype: DType, bigEndian: Bool, shape: [Int], fortranOrder: Bool, bytes: [UInt8], source: String) {
        self.dtype = dtype
        self.isBigEndian = dtype.byteSize > 1 && bigEndian
        self.shape = shape
        self.isFortranOrder = fortranOrder
        self.bytes = bytes
        self.source = source
    }
}

extension NPYArray: Equatable {
    /// Same dtype, byte order, shape, memory order and bytes; `source` is not compared.
    public static func == (lhs: NPYArray, rhs: NPYArray) -> Bool {
        lhs.dtype == rhs.dtype && lhs.isBigEndian == rhs.isBigEndian && lhs.shape == rhs.shape
            && lhs.isFortranOrder == rhs.isFortranOrder && lhs.bytes == rhs.bytes
    }
}

extension NPYArray: CustomStringConvertible {
    /// The type string, shape and order, e.g. `NPYArray(<f4, shape: [2, 3])`.
    public var description: String {
        "NPYArray(\(descr), shape: \(shape)\(isFortranOrder ? ", Fortran order" : ""))"
    }
}

// MARK: - Reading

extension NPYArray {
    /// The six bytes every .npy file starts with.
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Reads the .npy file at `path`.
    public init(contentsOf path: String) throws {
        try self.init(bytes: readFileBytes(atPath: path), source: path)
    }

    /// Reads an .npy file held in memory; `source` names it in error messages.
    public init(bytes: [UInt8], source: String = "NPY data in memory") throws {
        self = try bytes.withUnsafeBytes { try NPYArray(parsing: $0, source: source) }
    }

    /// Parses a whole .npy file; the element bytes are copied out of `file`.
    init(parsing file: UnsafeRawBufferPointer, source: String) throws {
        func failure(_ message: String) -> DataFormatError { DataFormatError(source: source, message: message) }

        let magicCount = Self.magic.count
        if file.count < magicCount && file.elementsEqual(Self.magic.prefix(file.count)) {
            throw failure("truncated: \(file.count) bytes, fewer than the magic string \"\\x93NUMPY\" alone")
        }
        guard file.prefix(magicCount).elementsEqual(Self.magic) else {
            let found = file.prefix(magicCount).map { ($0 >= 0x20 && $0 < 0x7F) ? String(UnicodeScalar($0)) : "\\x" + hex($0) }
            throw failure("not an NPY file: bad magic \"\(found.joined())\" (an .npy file starts with \"\\x93NUMPY\")")
        }
        guard file.count >= magicCount + 2 else { throw failure("truncated: the file ends inside the version bytes") }
        let version = (major: file[magicCount], minor: file[magicCount + 1])
        let lengthSize: Int
        switch (version.major, version.minor) {
        case (1, 0): lengthSize = 2
        case (2, 0), (3, 0): lengthSize = 4
        default: throw failure("unsupported NPY version \(version.major).\(version.minor) (Galen reads 1.0, 2.0 and 3.0)")
        }
        let lengthOffset = magicCount + 2
        guard file.count >= lengthOffset + lengthSize else { throw failure("truncated: the file ends inside the header length") }
        let headerLength = lengthSize == 2
            ? Int(UInt16(littleEndian: file.loadUnaligned(fromByteOffset: lengthOffset, as: UInt16.self)))
            : Int(UInt32(littleEndian: file.loadUnaligned(fromByteOffset: lengthOffset, as: UInt32.self)))
        let headerStart = lengthOffset + lengthSize
        let dataStart = headerStart + headerLength
        guard dataStart <= file.count else {
            throw failure("truncated: the header declares \(headerLength) bytes but the file has \(file.count - headerStart) after the header length")
        }

        let header = try parseHeader(Array(file[headerStart..<dataStart]), utf8: version.major >= 3, source: source)
        guard let count = Shape.checkedCount(header.shape) else {
            throw failure("malformed header: shape \(header.shape) has too many elements")
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: header.dtype.byteSize)
        let available = file.count - dataStart
        guard !overflow, byteCount <= available else {
            let needed = overflow ? "more than \(Int.max)" : String(byteCount)
            throw failure(
                "data too short: shape \(pythonTuple(header.shape)) of \(header.descr) needs \(needed) bytes, the file has \(available)")
        }
        // Bytes after the data are ignored, as NumPy does.
        let data = Array(file[dataStart..<(dataStart + byteCount)])
        self.init(
            validated: header.dtype, bigEndian: header.bigEndian, shape: header.shape, fortranOrder: header.fortranOrder,
            bytes: data, source: source)
    }
}

/// What an .npy header says.
private struct NPYHeader {
    var dtype: NPYArray.DType
    var bigEndian: Bool
    var fortranOrder: Bool
    var shape: [Int]
    var descr: String { NPYArray.descr(dtype, bigEndian: bigEndian) }
}

/// Parses the header dictionary: exactly the keys `descr`, `fortran_order` and `shape`, as NumPy
/// requires.
private func parseHeader(_ text: [UInt8], utf8: Bool, source: String) throws -> NPYHeader {
    func failure(_ message: String) -> DataFormatError { DataFormatError(source: source, message: "malformed header: \(message)") }

    let literal: PythonLiteral
    do {
        literal = try PythonLiteralParser.parse(text) { bytes in
            // Versions 1.0 and 2.0 store the header as Latin-1, 3.0 as UTF-8.
            utf8 ? String(decoding: bytes, as: UTF8.self) : String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        }
    } catch {
        throw failure("\(error.message) at byte \(error.offset) of \(headerExcerpt(text))")
    }
    guard case .dictionary(let pairs) = literal else { throw failure("not a dictionary: \(headerExcerpt(text))") }

    var descr: PythonLiteral?
    var fortranOrder: PythonLiteral?
    var shape: PythonLiteral?
    for (key, value) in pairs {
        switch key {
        case .string("descr") where descr == nil: descr = value
        case .string("fortran_order") where fortranOrder == nil: fortranOrder = value
        case .string("shape") where shape == nil: shape = value
        case .string("descr"), .string("fortran_order"), .string("shape"): throw failure("the key \(key) appears twice")
        default: throw failure("unexpected key \(key) (an NPY header has exactly 'descr', 'fortran_order' and 'shape')")
        }
    }
    guard let descr, let fortranOrder, let shape else {
        let missing = [("descr", descr), ("fortran_order", fortranOrder), ("shape", shape)].filter { $0.1 == nil }.map { "'\($0.0)'" }
        throw failure("missing key \(missing.joined(separator: ", "))")
    }

    guard case .boolean(let isFortran) = fortranOrder else { throw failure("'fortran_order' is \(fortranOrder), not True or False") }
    guard case .tuple(let dimensions) = shape else { throw failure("'shape' is \(shape), not a tuple of integers") }
    var sizes: [Int] = []
    for dimension in dimensions {
        guard case .integer(let size) = dimension, size >= 0 else {
            throw failure("'shape' \(shape) holds \(dimension), not a non-negative integer")
        }
        sizes.append(size)
    }
    let (dtype, bigEndian) = try parseDescr(descr, source: source)
    return NPYHeader(dtype: dtype, bigEndian: bigEndian, fortranOrder: isFortran, shape: sizes)
}

/// The dtype of a `descr` value such as `'<f4'`; every non-numeric or structured dtype is refused
/// with a message that says what it is.
private func parseDescr(_ descr: PythonLiteral, source: String) throws -> (NPYArray.DType, bigEndian: Bool) {
    func unsupported(_ message: String) -> DataFormatError { DataFormatError(source: source, message: "unsupported dtype: \(message)") }

    guard case .string(let text) = descr else {
        if case .list = descr { throw unsupported("structured arrays (a list of fields as 'descr') are not supported") }
        throw DataFormatError(source: source, message: "malformed header: 'descr' is \(descr), not a type string")
    }
    var code = Substring(text)
    var bigEndian = false
    if let order = code.first, "<>|=".contains(order) {
        bigEndian = order == ">"  // '|' (not applicable) and '=' (native) mean little-endian on Galen's hosts
        code = code.dropFirst()
    }
    if code == "?" { code = "b1" }
    if let dtype = NPYArray.DType(rawValue: String(code)) { return (dtype, bigEndian) }

    let kind: String
    switch code.first {
    case "O": throw unsupported("'\(text)' is an object array: its elements are pickled Python objects, which Galen does not load")
    case "U", "S", "a": kind = "string"
    case "c": kind = "complex"
    case "M", "m": kind = "datetime/timedelta"
    case "V": kind = "void/structured"
    case "f": kind = "extended-precision float"
    case "i", "u", "b": kind = "integer of that width"
    default: kind = "unknown"
    }
    throw unsupported("'\(text)' (\(kind)); Galen reads bool, integers of 1, 2, 4 and 8 bytes, and float16/32/64")
}

/// The start of a header for error messages, printable and short.
private func headerExcerpt(_ text: [UInt8]) -> String {
    let shown = text.prefix(120).map { ($0 >= 0x20 && $0 < 0x7F) ? String(UnicodeScalar($0)) : "\\x" + hex($0) }.joined()
    return "\"\(shown)\(text.count > 120 ? "…" : "")\""
}

private func hex(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16)
    return digits.count == 1 ? "0" + digits : digits
}

/// Python's repr of a tuple of sizes: `()`, `(5,)`, `(2, 3)`. The writer uses it too, so that
/// headers match NumPy's byte for byte.
func pythonTuple(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
}

// MARK: - Writing

extension NPYArray {
    /// The array as an .npy file: the same bytes `numpy.save` writes for it (format 1.0, or 2.0
    /// when the header does not fit 1.0's 64 KiB).
    public func npyBytes() -> [UInt8] {
        var header = "{'descr': '\(descr)', 'fortran_order': \(isFortranOrder ? "True" : "False"), 'shape': \(pythonTuple(shape)), }"
        // NumPy leaves room for the growth axis to reach 21 digits, so files can be appended to in place.
        if let growthAxis = isFortranOrder ? shape.last : shape.first {
            header += String(repeating: " ", count: max(0, 21 - String(growthAxis).count))
        }
        let headerBytes = Array(header.utf8)
        // Pad with spaces and a final newline so the data starts at a multiple of 64 bytes. NumPy
        // pads by 1…64 spaces, never 0, and switches to format 2.0's 4-byte length only when needed.
        func layout(lengthSize: Int) -> (padding: Int, storedLength: Int) {
            let unpadded = Self.magic.count + 2 + lengthSize + headerBytes.count + 1
            let padding = 64 - unpadded % 64
            return (padding, headerBytes.count + padding + 1)
        }
        var lengthSize = 2
        var (padding, storedLength) = layout(lengthSize: 2)
        if storedLength > Int(UInt16.max) {
            lengthSize = 4
            (padding, storedLength) = layout(lengthSize: 4)
        }

        var file: [UInt8] = []
        file.reserveCapacity(Self.magic.count + 2 + lengthSize + storedLength + bytes.count)
        file += Self.magic
        file += lengthSize == 2 ? [1, 0] : [2, 0]
        withUnsafeBytes(of: UInt32(storedLength).littleEndian) { file += $0.prefix(lengthSize) }
        file += headerBytes
        file += repeatElement(UInt8(ascii: " "), count: padding)
        file.append(UInt8(ascii: "\n"))
        file += bytes
        return file
    }

    /// Writes the array to `path` as an .npy file, replacing the file atomically.
    public func write(toFile path: String) throws {
        try writeFileBytes(npyBytes(), atPath: path)
    }
}
