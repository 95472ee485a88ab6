import Foundation
import Galen

/// The contents of a safetensors file: named tensors plus the free-form `__metadata__` strings.
///
/// The format (Hugging Face's, used by PyTorch checkpoints) is an 8-byte little-endian header
/// length N, N bytes of UTF-8 JSON mapping each name to `{"dtype", "shape", "data_offsets"}`, then
/// the tensors' bytes. Reading treats the file as untrusted: every malformed input is a thrown
/// `DataFormatError` naming the file, never a crash or an out-of-bounds read. Writing produces
/// the same bytes as `safetensors.torch.save_file` (up to the order of metadata keys) and replaces
/// the target atomically.
///
/// ```swift
/// var file = SafeTensors(metadata: ["format": "pt"])
/// file["fc.weight"] = SafeTensor(weight)
/// try file.write(to: "model.safetensors")
/// let weight = try SafeTensors(contentsOf: "model.safetensors").floatTensor(named: "fc.weight")
/// ```
///
/// Tensors read from a file share one buffer holding the whole file, so reading copies the file
/// once and converting with `floatTensor()` copies each tensor once more, into its `Tensor`.
/// (Keeping any one tensor keeps that buffer alive.) Equality ignores order and `source`.
public struct SafeTensors: Equatable, Sendable {
    /// The largest header accepted, the reference implementation's limit. Real headers are at most
    /// a few megabytes; a larger length field means a corrupt or foreign file, which should fail
    /// before a huge allocation.
    public static let maximumHeaderSize = 100_000_000

    /// Where the tensors came from (a file path, or the label given to `init(data:source:)`),
    /// for error messages.
    public var source: String
    /// The tensor names: in header order for a file read, in insertion order otherwise.
    public private(set) var names: [String]
    /// The free-form `__metadata__` strings (PyTorch writes `["format": "pt"]`).
    public var metadata: [String: String]
    private var tensors: [String: SafeTensor]

    /// A set of tensors to write, given as (name, tensor) pairs in order.
    public init(
        _ entries: [(name: String, tensor: SafeTensor)] = [], metadata: [String: String] = [:],
        source: String = "safetensors in memory"
    ) {
        self.source = source
        self.names = []
        self.metadata = metadata
        self.tensors = [:]
        for (name, tensor) in entries {
            check(tensors[name] == nil, "SafeTensors(_:metadata:): the name \(String(reflecting: name)) appears twice")
            self[name] = tensor
        }
    }

    /// The tensor named `name`, nil if there is none. Assigning adds a tensor (at the end of
    /// `names`), replaces one in place, or removes it (nil).
    public subscript(name: String) -> SafeTensor? {
        get { tensors[name] }
        set {
            check(name != "__metadata__", "SafeTensors: \"__metadata__\" is reserved for the metadata strings")
            switch (tensors[name] == nil, newValue == nil) {
            case (true, false): names.append(name)
            case (false, true): names.removeAll { $0 == name }
            default: break
            }
            tensors[name] = newValue
        }
    }

    /// The tensors with their names, in the order of `names`.
    public var entries: [(name: String, tensor: SafeTensor)] {
        names.map { ($0, tensors[$0]!) }
    }

    /// Number of tensors.
    public var count: Int { names.count }

    /// Whether there are no tensors.
    public var isEmpty: Bool { names.isEmpty }

    /// The tensor named `name` as Float32 (see `SafeTensor.floatTensor()`); throws an error naming
    /// the file when there is no such tensor.
    public func floatTensor(named name: String) throws -> Tensor {
        try tensor(named: name).floatTensor()
    }

    /// The tensor named `name` as integers (see `SafeTensor.intTensor()`); throws an error naming
    /// the file when there is no such tensor or it holds floating-point data.
    public func intTensor(named name: String) throws -> IntTensor {
        let found = try tensor(named: name)
        guard !found.dtype.isFloatingPoint else {
            throw DataFormatError(
                source: source,
                message: "tensor \(String(reflecting: name)) holds \(found.dtype.rawValue) data, not integers")
        }
        return try found.intTensor()
    }

    private func tensor(named name: String) throws -> SafeTensor {
        guard let found = tensors[name] else {
            throw DataFormatError(source: source, message: "no tensor named \(String(reflecting: name))")
        }
        return found
    }

    /// Whether both hold the same named tensors (bytes, dtypes, shapes) and metadata, in any order.
    public static func == (lhs: SafeTensors, rhs: SafeTensors) -> Bool {
        lhs.tensors == rhs.tensors && lhs.metadata == rhs.metadata
    }
}

// MARK: - Reading

extension SafeTensors {
    /// Reads the safetensors file at `path`.
    public init(contentsOf path: String) throws {
        try self.init(data: readWholeFile(atPath: path), source: path)
    }

    /// Reads the safetensors file at a file URL.
    public init(contentsOf url: URL) throws {
        guard url.isFileURL else {
            throw DataFormatError(source: url.absoluteString, message: "not a file URL")
        }
        try self.init(contentsOf: url.path)
    }

    /// Parses the bytes of a safetensors file; `source` names it in error messages. The tensors
    /// share `data`'s buffer rather than copying it.
    ///
    /// Accepts what the reference implementation (safetensors 0.8) accepts, with the same rules:
    /// whitespace around the JSON, unknown entry fields and a null `__metadata__` are fine; the
    /// tensors, taken by offset, must tile the data section exactly. It refuses in addition
    /// duplicate tensor names and metadata keys (the reference keeps the last silently) and the
    /// dtypes Galen does not read (U16, U32, U64, C64 and the 8-bit and smaller floats).
    public init(data: Data, source: String) throws {
        let header = try data.withUnsafeBytes { file in
            try HeaderReader(file: file, source: source).read()
        }
        self.init(source: source)
        metadata = header.metadata
        let dataStart = data.startIndex + header.dataOffset
        for entry in header.entries {
            let bytes = data[(dataStart + entry.begin)..<(dataStart + entry.end)]
            names.append(entry.name)
            tensors[entry.name] = SafeTensor(validatedDType: entry.dtype, shape: entry.shape, bytes: bytes)
        }
    }
}

/// One tensor's header entry after its fields were checked.
private struct HeaderEntry {
    let name: String
    let dtype: SafeTensor.DType
    let shape: [Int]
    /// Byte range within the data section.
    let begin: Int
    let end: Int
}

/// Checks a file's header and finds each tensor's bytes; every failure names the file.
private struct HeaderReader {
    let file: UnsafeRawBufferPointer
    let source: String

    /// Dtypes the reference implementation defines that Galen does not read; named as unsupported
    /// rather than unknown in errors.
    static let otherReferenceDTypes: Set<String> = [
        "U16", "U32", "U64", "C64", "F4", "F6_E2M3", "F6_E3M2",
        "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
    ]

    func failure(_ message: String) -> DataFormatError {
        DataFormatError(source: source, message: message)
    }

    func read() throws(DataFormatError) -> (entries: [HeaderEntry], metadata: [String: String], dataOffset: Int) {
        guard file.count >= 8 else {
            throw failure("file is \(file.count) bytes, too short for the 8-byte header length")
        }
        let declaredLength = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        guard declaredLength <= UInt64(SafeTensors.maximumHeaderSize) else {
            throw failure(
                "header length \(declaredLength) is over the \(SafeTensors.maximumHeaderSize)-byte limit "
                    + "(corrupt, or not a safetensors file)")
        }
        let headerLength = Int(declaredLength)
        guard headerLength <= file.count - 8 else {
            throw failure("header length \(headerLength) runs past the end of the \(file.count)-byte file")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: file[8..<(8 + headerLength)])
        guard String(validating: headerBytes, as: UTF8.self) != nil else {
            throw failure("header is not valid UTF-8")
        }
        let root: JSONValue
        do {
            root = try JSONParser.parse(headerBytes)
        } catch {
            throw failure("header is not valid JSON: \(error.message) (at byte \(8 + error.offset) of the file)")
        }
        guard case .object(let members) = root else {
            throw failure("header is \(root.summary), not a JSON object")
        }

        var entries: [HeaderEntry] = []
        var metadata: [String: String]? = nil
        var seenNames = Set<String>()
        for (key, value) in members {
            if key == "__metadata__" {
                guard metadata == nil else { throw failure("\"__metadata__\" appears twice") }
                metadata = try readMetadata(value)
            } else {
                guard seenNames.insert(key).inserted else {
                    throw failure("tensor name \(String(reflecting: key)) appears twice")
                }
                entries.append(try readEntry(name: key, value))
            }
        }
        try checkLayout(entries, dataSize: file.count - 8 - headerLength)
        return (entries, metadata ?? [:], 8 + headerLength)
    }

    private func readMetadata(_ value: JSONValue) throws(DataFormatError) -> [String: String] {
        switch value {
        case .null:
            return [:]  // the reference reads a null __metadata__ as absent
        case .object(let members):
            var strings: [String: String] = [:]
            for (key, item) in members {
                guard case .string(let text) = item else {
                    throw failure("\"__metadata__\" value for key \(String(reflecting: key)) is \(item.summary), not a string")
                }
                guard strings.updateValue(text, forKey: key) == nil else {
                    throw failure("\"__metadata__\" key \(String(reflecting: key)) appears twice")
                }
            }
            return strings
        default:
            throw failure("\"__metadata__\" is \(value.summary), not an object of strings")
        }
    }

    private func readEntry(name: String, _ value: JSONValue) throws(DataFormatError) -> HeaderEntry {
        let label = "tensor \(String(reflecting: name))"
        guard case .object(let fields) = value else {
            throw failure("\(label): entry is \(value.summary), not an object")
        }
        var dtypeValue: JSONValue?
        var shapeValue: JSONValue?
        var offsetsValue: JSONValue?
        for (key, field) in fields {
            // Other keys are ignored, as the reference implementation does.
            switch key {
            case "dtype":
                guard dtypeValue == nil else { throw failure("\(label): \"dtype\" appears twice") }
                dtypeValue = field
            case "shape":
                guard shapeValue == nil else { throw failure("\(label): \"shape\" appears twice") }
                shapeValue = field
            case "data_offsets":
                guard offsetsValue == nil else { throw failure("\(label): \"data_offsets\" appears twice") }
                offsetsValue = field
            default:
                break
            }
        }

        guard let dtypeValue else { throw failure("\(label): missing \"dtype\"") }
        guard case .string(let dtypeName) = dtypeValue else {
            throw failure("\(label): \"dtype\" is \(dtypeValue.summary), not a string")
        }
        guard let dtype = SafeTensor.DType(rawValue: dtypeName) else {
            let supported = SafeTensor.DType.allCases.map(\.rawValue).joined(separator: ", ")
            let kind = Self.otherReferenceDTypes.contains(dtypeName) ? "unsupported" : "unknown"
            throw failure("\(label): \(kind) dtype \(String(reflecting: dtypeName)) (Galen reads \(supported))")
        }

        guard let shapeValue else { throw failure("\(label): missing \"shape\"") }
        let shape = try naturals(shapeValue, field: "shape", label: label)

        guard let offsetsValue else { throw failure("\(label): missing \"data_offsets\"") }
        let offsets = try naturals(offsetsValue, field: "data_offsets", label: label)
        guard offsets.count == 2 else {
            throw failure("\(label): \"data_offsets\" has \(offsets.count) numbers, not 2 (begin, end)")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end else {
            throw failure("\(label): data_offsets [\(begin), \(end)] end before they begin")
        }

        guard let count = Shape.checkedCount(shape) else {
            throw failure("\(label): shape \(shape) has more elements than fit in 64 bits")
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, byteCount == end - begin else {
            let needed = overflow ? "more than 2^63" : "\(byteCount)"
            throw failure(
                "\(label): shape \(shape) of \(dtype.rawValue) needs \(needed) bytes, "
                    + "but data_offsets [\(begin), \(end)] hold \(end - begin)")
        }
        return HeaderEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    /// A JSON array of non-negative integers (shape dimensions, byte offsets).
    private func naturals(_ value: JSONValue, field: String, label: String) throws(DataFormatError) -> [Int] {
        guard case .array(let elements) = value else {
            throw failure("\(label): \"\(field)\" is \(value.summary), not an array")
        }
        var numbers: [Int] = []
        numbers.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard case .integer(let number) = element, number >= 0 else {
                throw failure(
                    "\(label): \"\(field)\" element \(index) is \(element.summary), not a non-negative integer")
            }
            numbers.append(number)
        }
        return numbers
    }

    /// The reference implementation's layout rule: taken in order of offset, the tensors tile the
    /// data section exactly, each starting where the previous one ends, with no gap, overlap or
    /// trailing bytes. (Empty tensors take no room and sit at any boundary.)
    private func checkLayout(_ entries: [HeaderEntry], dataSize: Int) throws(DataFormatError) {
        for entry in entries where entry.end > dataSize {
            throw failure(
                "tensor \(String(reflecting: entry.name)): data_offsets [\(entry.begin), \(entry.end)] "
                    + "run past the end of the \(dataSize)-byte data section")
        }
        // Ties broken by header position so that messages do not depend on the sort.
        let ordered = entries.indices.sorted {
            (entries[$0].begin, entries[$0].end, $0) < (entries[$1].begin, entries[$1].end, $1)
        }
        var covered = 0
        var previous: HeaderEntry?
        for index in ordered {
            let entry = entries[index]
            let label = "tensor \(String(reflecting: entry.name)): data_offsets [\(entry.begin), \(entry.end)]"
            if entry.begin < covered, let previous {
                throw failure(
                    "\(label) overlap tensor \(String(reflecting: previous.name))'s [\(previous.begin), \(previous.end)]")
            }
            if entry.begin > covered {
                throw failure("\(label) leave bytes \(covered)..<\(entry.begin) of the data section unused")
            }
            covered = entry.end
            previous = entry
        }
        if covered != dataSize {
            throw failure(
                "the data section has \(dataSize) bytes but the tensors cover only \(covered) "
                    + "(trailing bytes, or a truncated header)")
        }
    }
}

// MARK: - Writing

extension SafeTensors {
    /// The names in the order the reference implementation writes them: by element size, largest
    /// first (so every tensor starts aligned to its element size), then by name.
    private var writingOrder: [String] {
        names.sorted { left, right in
            let leftRank = tensors[left]!.dtype.referenceRank
            let rightRank = tensors[right]!.dtype.referenceRank
            if leftRank != rightRank { return leftRank > rightRank }
            // Byte order of the UTF-8, like Rust's String ordering (Swift's `<` compares
            // normalized Unicode, which could differ).
            return left.utf8.lexicographicallyPrecedes(right.utf8)
        }
    }

    /// The JSON header, padded with spaces to a multiple of 8 bytes so that the data section starts
    /// 8-byte aligned.
    private func makeHeader(order: [String]) -> [UInt8] {
        var json: [UInt8] = [UInt8(ascii: "{")]
        if !metadata.isEmpty {
            // The reference writes metadata keys in hash-map order; sorted is as valid and stable.
            JSONWriter.appendString("__metadata__", to: &json)
            json.append(contentsOf: Array(":{".utf8))
            let keys = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (index, key) in keys.enumerated() {
                if index > 0 { json.append(UInt8(ascii: ",")) }
                JSONWriter.appendString(key, to: &json)
                json.append(UInt8(ascii: ":"))
                JSONWriter.appendString(metadata[key]!, to: &json)
            }
            json.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for name in order {
            let tensor = tensors[name]!
            if json.count > 1 { json.append(UInt8(ascii: ",")) }
            JSONWriter.appendString(name, to: &json)
            json.append(contentsOf: Array(":{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":".utf8))
            JSONWriter.appendIntegers(tensor.shape, to: &json)
            json.append(contentsOf: Array(",\"data_offsets\":".utf8))
            JSONWriter.appendIntegers([offset, offset + tensor.byteCount], to: &json)
            json.append(UInt8(ascii: "}"))
            offset += tensor.byteCount
        }
        json.append(UInt8(ascii: "}"))
        json.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
        return json
    }

    /// The bytes of the file `write(to:)` writes.
    public func serialized() -> Data {
        let order = writingOrder
        let header = makeHeader(order: order)
        var output = Data(capacity: 8 + header.count + order.reduce(0) { $0 + tensors[$1]!.byteCount })
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { output.append(contentsOf: $0) }
        output.append(contentsOf: header)
        for name in order { output.append(tensors[name]!.bytes) }
        return output
    }

    /// Writes the tensors to `path` atomically: into a temporary file in the same directory, flushed
    /// to disk, then renamed over `path`, so a crash never leaves a truncated checkpoint. On failure
    /// the temporary file is removed and the error names `path`.
    public func write(to path: String) throws {
        let order = writingOrder
        let header = makeHeader(order: order)
        try writeAtomically(toPath: path) { sink in
            try withUnsafeBytes(of: UInt64(header.count).littleEndian) { try sink.write($0) }
            try header.withUnsafeBytes { try sink.write($0) }
            for name in order {
                try tensors[name]!.withUnsafeBytes { try sink.write($0) }
            }
        }
    }

    /// Writes the tensors to a file URL atomically (see `write(to:)` for a path).
    public func write(to url: URL) throws {
        guard url.isFileURL else {
            throw DataFormatError(source: url.absoluteString, message: "not a file URL")
        }
        try write(to: url.path)
    }
}
