import Foundation
import Galen
import GalenNN
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Reading PyTorch's files exactly, Galen's files loading in PyTorch, round trips, a corpus of
// malformed files (each must throw an error naming the file, never crash), and atomic writes.

// MARK: - Helpers

private let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

/// The little-endian bytes of `values`.
private func bytes<T: FixedWidthInteger>(_ values: [T]) -> Data {
    var data = Data()
    for value in values { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
    return data
}

/// A safetensors file from a header text (or bytes) and a data section. `length` overrides the
/// header length field.
private func fileBytes(header: [UInt8], data: [UInt8] = [], length: UInt64? = nil) -> Data {
    var file = bytes([length ?? UInt64(header.count)])
    file.append(contentsOf: header)
    file.append(contentsOf: data)
    return file
}

private func fileBytes(header: String, data: [UInt8] = [], length: UInt64? = nil) -> Data {
    fileBytes(header: Array(header.utf8), data: data, length: length)
}

/// The error that reading `data` throws, or nil when it reads.
private func readError(_ data: Data, source: String) -> DataFormatError? {
    do {
        _ = try SafeTensors(data: data, source: source)
        return nil
    } catch let error as DataFormatError {
        return error
    } catch {
        Issue.record("unexpected error type \(type(of: error)): \(error)")
        return nil
    }
}

/// A fresh empty directory, removed after `body`.
private func withTemporaryDirectory(_ body: (URL) throws -> Void) throws {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("galen-safetensors-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer {
        chmod(directory.path, 0o755)
        try? FileManager.default.removeItem(at: directory)
    }
    try body(directory)
}

private func directoryListing(_ directory: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
}

/// Bit patterns, so that NaN compares equal to itself and -0 differs from 0.
private func bits(_ tensor: Tensor) -> [UInt32] { tensor.scalars.map(\.bitPattern) }

/// The tensors of Tests/GalenNNTests/Fixtures/safetensors_galen_written.safetensors; the Python
/// fixture script lists the same ones (GALEN_WRITTEN) and checks that PyTorch loads the file.
private func galenWrittenTensors() throws -> SafeTensors {
    var file = SafeTensors(metadata: ["format": "pt"])
    file["weight"] = SafeTensor(Tensor([0.5, -1.25, 3, 0, -0.0, 100.125], shape: [2, 3]))
    file["bias"] = SafeTensor(Tensor([1, 2, 3]))
    file["double"] = SafeTensor(Tensor([0.1, -2.5]), dtype: .f64)
    file["steps"] = SafeTensor(IntTensor([42], shape: []))
    file["labels"] = SafeTensor(IntTensor([0, 3, -1, Int.max]))
    file["index"] = SafeTensor(IntTensor([0, -5, 7, Int(Int32.max)], shape: [2, 2]), dtype: .i32)
    file["pixels"] = SafeTensor(IntTensor([0, 128, 255]), dtype: .u8)
    file["mask"] = SafeTensor(IntTensor([1, 0, 0, 1], shape: [2, 2]), dtype: .bool)
    file["empty"] = SafeTensor(Tensor.zeros([0, 4]))
    file["layer1.0.conv1.weight"] = SafeTensor(Tensor([2], shape: [1, 1, 1, 1]))
    file["h\u{E9}llo \"w\"\n"] = SafeTensor(Tensor([7]))
    file["half"] = try SafeTensor(dtype: .f16, shape: [3], data: bytes([0x3C00, 0x7C00, 0x0001] as [UInt16]))
    file["brain"] = try SafeTensor(dtype: .bf16, shape: [2], data: bytes([0x3F80, 0xFF80] as [UInt16]))
    return file
}

/// A small valid file: mixed dtypes, metadata, an empty tensor.
private func smallValidFile() throws -> Data {
    var file = SafeTensors(metadata: ["format": "pt"])
    file["w"] = SafeTensor(Tensor([1, -2, 3.5, 4], shape: [2, 2]))
    file["n"] = SafeTensor(IntTensor([5], shape: []))
    file["m"] = SafeTensor(IntTensor([1, 0, 1]), dtype: .bool)
    file["e"] = SafeTensor(Tensor.zeros([0]))
    return file.serialized()
}

// MARK: - Files written by PyTorch

@Suite struct SafeTensorsPyTorchFixtureTests {
    @Test(arguments: ["dtypes", "model"])
    func readsPyTorchFileExactly(name: String) throws {
        let url = fixtures.appendingPathComponent("safetensors_\(name).safetensors")
        let expected = try JSONSerialization.jsonObject(
            with: Data(contentsOf: fixtures.appendingPathComponent("safetensors_\(name).json"))) as! [String: Any]
        let file = try SafeTensors(contentsOf: url)
        #expect(file.source == url.path)
        #expect(file.metadata == expected["metadata"] as! [String: String])

        let tensors = expected["tensors"] as! [String: [String: Any]]
        #expect(Set(file.names) == Set(tensors.keys))
        for (tensorName, record) in tensors {
            let tensor = try #require(file[tensorName], "\(tensorName)")
            let shape = record["shape"] as! [Int]
            #expect(tensor.dtype.rawValue == record["dtype"] as! String, "\(tensorName)")
            #expect(tensor.shape == shape, "\(tensorName)")
            #expect(tensor.data.map { String(format: "%02x", $0) }.joined() == record["raw_hex"] as! String, "\(tensorName)")

            // Float32 conversion must agree with PyTorch's `.to(torch.float32)` bit for bit. NaN is
            // compared as NaN: PyTorch's scalar and vector half-to-float paths disagree on payloads.
            let floats = try file.floatTensor(named: tensorName)
            #expect(floats.shape == shape)
            let expectedBits = (record["float32_bits"] as! [Int]).map { UInt32($0) }
            for (index, (got, want)) in zip(bits(floats), expectedBits).enumerated() {
                if Float(bitPattern: want).isNaN {
                    #expect(Float(bitPattern: got).isNaN, "\(tensorName)[\(index)]")
                } else {
                    #expect(got == want, "\(tensorName)[\(index)]: \(Float(bitPattern: got)) vs \(Float(bitPattern: want))")
                }
            }
            #expect(floats.count == expectedBits.count)

            if let ints = record["ints"] as? [String] {
                let values = try file.intTensor(named: tensorName)
                #expect(values.shape == shape)
                #expect(values.scalars == ints.map { Int($0)! }, "\(tensorName)")
            } else {
                #expect(throws: DataFormatError.self) { try file.intTensor(named: tensorName) }
            }
        }
    }

    @Test func namesFollowTheHeaderOrder() throws {
        // PyTorch writes by dtype size, then name; a file read keeps that order.
        let file = try SafeTensors(contentsOf: fixtures.appendingPathComponent("safetensors_model.safetensors"))
        #expect(file.names.first == "1.num_batches_tracked")
        #expect(file.names.dropFirst() == ["0.bias", "0.weight", "1.bias", "1.running_mean", "1.running_var", "1.weight", "4.bias", "4.weight"])
        #expect(try file.intTensor(named: "1.num_batches_tracked") == IntTensor([1], shape: []))
    }
}

// MARK: - Files written by Galen

@Suite struct SafeTensorsWritingTests {
    /// The committed file was written by this code and checked by the Python fixture script to
    /// load in `safetensors.torch.load_file` and to equal `safetensors.torch.save`'s bytes. Set
    /// GALEN_UPDATE_FIXTURES=1 to rewrite it, then rerun Scripts/make_fixtures.sh to check it.
    @Test func galenWrittenFileMatchesTheFilePyTorchChecked() throws {
        let file = try galenWrittenTensors()
        if ProcessInfo.processInfo.environment["GALEN_UPDATE_FIXTURES"] == "1" {
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("Fixtures/safetensors_galen_written.safetensors")
            try file.write(to: source)
            return
        }
        let committed = try Data(contentsOf: fixtures.appendingPathComponent("safetensors_galen_written.safetensors"))
        #expect(file.serialized() == committed)
        #expect(try SafeTensors(data: committed, source: "committed") == file)
    }

    @Test func headerIsCompactSortedAndPadded() throws {
        var file = SafeTensors()
        file["b"] = SafeTensor(Tensor([1]))
        file["a"] = SafeTensor(IntTensor([1]), dtype: .u8)
        file["c"] = SafeTensor(IntTensor([1]))
        let data = file.serialized()
        let length = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        #expect(length % 8 == 0)
        let header = String(decoding: data[8..<(8 + length)], as: UTF8.self)
        // I64 before F32 before U8 (largest element first keeps every tensor aligned).
        let json = """
            {"c":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},\
            "a":{"dtype":"U8","shape":[1],"data_offsets":[12,13]}}
            """
        #expect(json.utf8.count == 162)
        #expect(header == json + String(repeating: " ", count: 6))
        #expect(data.count == 8 + length + 13)
        // The empty file matches the reference implementation's bytes exactly.
        #expect(Array(SafeTensors().serialized()) == [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])
    }

    @Test func roundTripThroughAFileIsIdentical() throws {
        var file = try galenWrittenTensors()
        file.metadata = ["format": "pt", "epoch": "3", "note": "quote \" backslash \\ tab \t nul \u{0} \u{1F600}"]
        file["big"] = SafeTensor(Tensor.randn([300, 257], generator: Generator(seed: 7)))
        file["nan"] = SafeTensor(Tensor([.nan, -.nan, .infinity, -.infinity, -0.0, .leastNonzeroMagnitude]))
        file["i16"] = SafeTensor(IntTensor([-32768, 32767, 0]), dtype: .i16)
        file["i8"] = SafeTensor(IntTensor([-128, 127]), dtype: .i8)
        file["scalar"] = SafeTensor(Tensor(scalar: 2.5))
        file["\u{1F600}/weird name\u{7}"] = SafeTensor(Tensor([1]))
        file["raw f64"] = try SafeTensor(dtype: .f64, shape: [1], data: bytes([Double.pi.bitPattern]))

        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("model.safetensors")
            try file.write(to: path)
            let read = try SafeTensors(contentsOf: path)
            #expect(read == file)
            #expect(Set(read.names) == Set(file.names))
            for name in file.names {
                #expect(read[name]!.data == file[name]!.data, "\(name)")
            }
            #expect(try Data(contentsOf: path) == file.serialized())
            #expect(directoryListing(directory) == ["model.safetensors"])
        }
        // In memory, including from a Data slice whose indices do not start at 0.
        let padded = Data([1, 2, 3]) + file.serialized()
        #expect(try SafeTensors(data: padded[3...], source: "slice") == file)
    }

    @Test func tensorConversionsRoundTrip() throws {
        let values: [Float] = [0, -0.0, 1, -Float.leastNormalMagnitude / 4, 3.4e38, .infinity, .nan, 0.1]
        #expect(bits(try SafeTensor(Tensor(values, shape: [2, 4])).floatTensor()) == values.map(\.bitPattern))
        #expect(bits(try SafeTensor(Tensor(values), dtype: .f64).floatTensor()) == values.map(\.bitPattern))

        // A strided view is written in row-major order of the view.
        let matrix = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]).requiringGrad()
        let transposed = SafeTensor(matrix.transposed())
        #expect(transposed.shape == [3, 2])
        #expect(try transposed.floatTensor().scalars == [1, 4, 2, 5, 3, 6])

        let ints = IntTensor([-3, 0, 7, 100, -100, 1], shape: [3, 2])
        for dtype in [SafeTensor.DType.i64, .i32, .i16, .i8] {
            let stored = SafeTensor(ints, dtype: dtype)
            #expect(stored.byteCount == 6 * dtype.byteSize)
            #expect(try stored.intTensor() == ints)
            #expect(try stored.floatTensor().scalars == [-3, 0, 7, 100, -100, 1])
        }
        #expect(try SafeTensor(IntTensor([0, 255, 128]), dtype: .u8).intTensor() == IntTensor([0, 255, 128]))
        #expect(try SafeTensor(IntTensor([1, 0]), dtype: .bool).floatTensor().scalars == [1, 0])
        // Any nonzero BOOL byte is true.
        #expect(try SafeTensor(dtype: .bool, shape: [3], data: Data([0, 1, 7])).intTensor().scalars == [0, 1, 1])

        #expect(throws: DataFormatError.self) { try SafeTensor(Tensor([1])).intTensor() }
        #expect(throws: DataFormatError.self) { try SafeTensor(dtype: .f32, shape: [2], data: Data(count: 4)) }
        #expect(throws: DataFormatError.self) { try SafeTensor(dtype: .f32, shape: [-1], data: Data()) }
    }

    @Test func lookupErrorsNameTheFile() throws {
        let file = try SafeTensors(data: try smallValidFile(), source: "checkpoints/best.safetensors")
        let missing = #expect(throws: DataFormatError.self) { try file.floatTensor(named: "missing") }
        #expect(missing?.description == "checkpoints/best.safetensors: no tensor named \"missing\"")
        let notInts = #expect(throws: DataFormatError.self) { try file.intTensor(named: "w") }
        #expect(notInts?.description.hasPrefix("checkpoints/best.safetensors: tensor \"w\" holds F32") == true)
    }

    @Test func subscriptAddsReplacesAndRemoves() {
        var file = SafeTensors()
        file["a"] = SafeTensor(Tensor([1]))
        file["b"] = SafeTensor(Tensor([2]))
        file["a"] = SafeTensor(Tensor([3]))
        #expect(file.names == ["a", "b"])
        file["a"] = nil
        #expect(file.names == ["b"])
        #expect(file.count == 1)
        #expect(file.entries.map(\.name) == ["b"])
    }
}

// MARK: - 16-bit floats

@Suite struct SafeTensorsHalfPrecisionTests {
    @Test func everyFloat16ValueWidensExactly() throws {
        let all = (0...0xFFFF).map { UInt16($0) }
        let widened = try SafeTensor(dtype: .f16, shape: [all.count], data: bytes(all)).floatTensor().scalars
        for (half, value) in zip(all, widened) {
            let exponent = (half >> 10) & 0x1F
            let mantissa = UInt32(half & 0x3FF)
            if exponent == 0x1F && mantissa != 0 {
                // NaN: sign and payload kept, not quieted.
                #expect(value.bitPattern == UInt32(half & 0x8000) << 16 | 0x7F80_0000 | mantissa << 13)
            } else {
                // Everything else is a number with one exact Float32 value: sign · m · 2^e.
                let sign: Float = half & 0x8000 != 0 ? -1 : 1
                let exact: Float =
                    exponent == 0x1F ? sign * .infinity
                    : exponent == 0 ? sign * Float(mantissa) * 0x1p-24
                    : sign * Float(0x400 | mantissa) * Float(sign: .plus, exponent: Int(exponent) - 25, significand: 1)
                #expect(value.bitPattern == exact.bitPattern, "0x\(String(half, radix: 16))")
                #if !(os(macOS) && arch(x86_64))
                #expect(value.bitPattern == Float(Float16(bitPattern: half)).bitPattern)
                #endif
            }
        }
    }

    @Test func everyBFloat16ValueIsTheTopHalfOfAFloat32() throws {
        let all = (0...0xFFFF).map { UInt16($0) }
        let widened = try SafeTensor(dtype: .bf16, shape: [all.count], data: bytes(all)).floatTensor().scalars
        #expect(widened.map(\.bitPattern) == all.map { UInt32($0) << 16 })
    }
}

// MARK: - Malformed files

/// A hand-made file that must be refused, with a fragment the message must contain.
struct SafeTensorsMalformedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let header: [UInt8]
    let data: [UInt8]
    let expected: String
    var testDescription: String { name }

    init(_ name: String, _ header: String, data: [UInt8] = [], _ expected: String) {
        self.init(name, bytes: Array(header.utf8), data: data, expected)
    }

    init(_ name: String, bytes header: [UInt8], data: [UInt8] = [], _ expected: String) {
        self.name = name
        self.header = header
        self.data = data
        self.expected = expected
    }
}

/// A one-byte U8 tensor entry with the given fields spliced in.
private func entry(_ fields: String) -> String { "{\"a\":{\(fields)}}" }

private let malformedCases: [SafeTensorsMalformedCase] = [
    // Not a JSON object.
    SafeTensorsMalformedCase("empty header", "", "not valid JSON"),
    SafeTensorsMalformedCase("only spaces", "        ", "not valid JSON"),
    SafeTensorsMalformedCase("truncated JSON", "{\"a\":", "not valid JSON"),
    SafeTensorsMalformedCase("trailing garbage", "{}x", "after the end of the JSON value"),
    SafeTensorsMalformedCase("trailing NUL padding", "{}\u{0}\u{0}", "not valid JSON"),
    SafeTensorsMalformedCase("array root", "[]", "header is an array, not a JSON object"),
    SafeTensorsMalformedCase("string root", "\"x\"", "not a JSON object"),
    SafeTensorsMalformedCase("invalid UTF-8", bytes: [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D], "not valid UTF-8"),
    SafeTensorsMalformedCase("byte order mark", bytes: [0xEF, 0xBB, 0xBF, 0x7B, 0x7D], "not valid JSON"),
    SafeTensorsMalformedCase("single quotes", "{'a':1}", "expected a string key"),
    SafeTensorsMalformedCase("trailing comma", "{\"__metadata__\":{},}", "expected a string key"),
    SafeTensorsMalformedCase("leading zero", entry("\"dtype\":\"U8\",\"shape\":[01],\"data_offsets\":[0,1]"), "leading zero"),
    SafeTensorsMalformedCase("bad escape", "{\"\\x\":1}", "invalid escape"),
    SafeTensorsMalformedCase("lone surrogate", "{\"\\ud800\":1}", "unpaired surrogate"),
    SafeTensorsMalformedCase("raw control character", "{\"a\u{1}\":1}", "control character"),
    SafeTensorsMalformedCase("unterminated string", "{\"abc", "unterminated string"),
    SafeTensorsMalformedCase(
        "nested 100000 deep",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":" + String(repeating: "[", count: 100_000)
            + String(repeating: "]", count: 100_000) + "}}", data: [0], "nested more than 127 deep"),
    SafeTensorsMalformedCase(
        "nested 128 deep",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":" + String(repeating: "[", count: 126)
            + String(repeating: "]", count: 126) + "}}", data: [0], "nested more than 127 deep"),

    // Entries.
    SafeTensorsMalformedCase("entry not an object", "{\"a\":[1]}", "tensor \"a\": entry is an array, not an object"),
    SafeTensorsMalformedCase("missing dtype", entry("\"shape\":[1],\"data_offsets\":[0,1]"), data: [0], "missing \"dtype\""),
    SafeTensorsMalformedCase("missing shape", entry("\"dtype\":\"U8\",\"data_offsets\":[0,1]"), data: [0], "missing \"shape\""),
    SafeTensorsMalformedCase("missing offsets", entry("\"dtype\":\"U8\",\"shape\":[1]"), data: [0], "missing \"data_offsets\""),
    SafeTensorsMalformedCase("dtype not a string", entry("\"dtype\":8,\"shape\":[1],\"data_offsets\":[0,1]"), data: [0], "\"dtype\" is the integer 8"),
    SafeTensorsMalformedCase("unknown dtype", entry("\"dtype\":\"F12\",\"shape\":[1],\"data_offsets\":[0,1]"), data: [0], "unknown dtype \"F12\""),
    SafeTensorsMalformedCase("lowercase dtype", entry("\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]"), data: [0, 0, 0, 0], "unknown dtype \"f32\""),
    SafeTensorsMalformedCase("unsupported dtype", entry("\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[0,2]"), data: [0, 0], "unsupported dtype \"U16\""),
    SafeTensorsMalformedCase("shape not an array", entry("\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]"), data: [0], "\"shape\" is the integer 1, not an array"),
    SafeTensorsMalformedCase("negative dimension", entry("\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]"), data: [0], "not a non-negative integer"),
    SafeTensorsMalformedCase("fractional dimension", entry("\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]"), data: [0], "the number 1.0"),
    SafeTensorsMalformedCase("exponent dimension", entry("\"dtype\":\"U8\",\"shape\":[1e0],\"data_offsets\":[0,1]"), data: [0], "the number 1e0"),
    SafeTensorsMalformedCase("negative zero dimension", entry("\"dtype\":\"U8\",\"shape\":[-0],\"data_offsets\":[0,0]"), "the number -0"),
    SafeTensorsMalformedCase("string dimension", entry("\"dtype\":\"U8\",\"shape\":[\"1\"],\"data_offsets\":[0,1]"), data: [0], "the string \"1\""),
    SafeTensorsMalformedCase("null dimension", entry("\"dtype\":\"U8\",\"shape\":[null],\"data_offsets\":[0,1]"), data: [0], "element 0 is null"),
    SafeTensorsMalformedCase("dimension over 64 bits", entry("\"dtype\":\"U8\",\"shape\":[99999999999999999999],\"data_offsets\":[0,1]"), data: [0], "not a non-negative integer"),
    SafeTensorsMalformedCase("element count overflows", entry("\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,1]"), data: [0], "more elements than fit"),
    SafeTensorsMalformedCase("byte count overflows", entry("\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]"), data: Array(repeating: 0, count: 8), "more than 2^63"),
    SafeTensorsMalformedCase("shape and size disagree", entry("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]"), data: [0, 0, 0, 0], "needs 8 bytes, but data_offsets [0, 4] hold 4"),
    SafeTensorsMalformedCase("three offsets", entry("\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]"), data: [0], "has 3 numbers, not 2"),
    SafeTensorsMalformedCase("offsets not an array", entry("\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":\"0-1\""), data: [0], "not an array"),
    SafeTensorsMalformedCase("offsets reversed", entry("\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[1,0]"), data: [0], "end before they begin"),
    SafeTensorsMalformedCase("duplicate field", entry("\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]"), data: [0], "\"dtype\" appears twice"),

    // Layout of the data section.
    SafeTensorsMalformedCase("offsets past the end", entry("\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]"), data: [0, 0, 0, 0], "run past the end of the 4-byte data section"),
    SafeTensorsMalformedCase("huge offsets", entry("\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[9223372036854775806,9223372036854775807]"), data: [0], "run past the end"),
    SafeTensorsMalformedCase(
        "overlapping tensors",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
        data: Array(repeating: 0, count: 6), "tensor \"b\": data_offsets [2, 6] overlap tensor \"a\"'s [0, 4]"),
    SafeTensorsMalformedCase(
        "same bytes twice",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}",
        data: [0, 0], "overlap"),
    SafeTensorsMalformedCase(
        "empty tensor inside another",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[1,1]}}",
        data: [0, 0], "overlap"),
    SafeTensorsMalformedCase(
        "gap between tensors",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}",
        data: Array(repeating: 0, count: 5), "leave bytes 2..<3 of the data section unused"),
    SafeTensorsMalformedCase("data not starting at 0", entry("\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]"), data: [0, 0, 0, 0], "leave bytes 0..<2"),
    SafeTensorsMalformedCase("trailing bytes", entry("\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]"), data: [0, 0, 0, 0], "has 4 bytes but the tensors cover only 2"),
    SafeTensorsMalformedCase("data without tensors", "{}", data: [0], "has 1 bytes but the tensors cover only 0"),
    SafeTensorsMalformedCase(
        "duplicate names",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
        data: [0, 0], "tensor name \"a\" appears twice"),

    // Metadata.
    SafeTensorsMalformedCase("metadata value not a string", "{\"__metadata__\":{\"epoch\":3}}", "value for key \"epoch\" is the integer 3, not a string"),
    SafeTensorsMalformedCase("metadata nested", "{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", "is an object, not a string"),
    SafeTensorsMalformedCase("metadata not an object", "{\"__metadata__\":[\"a\"]}", "not an object of strings"),
    SafeTensorsMalformedCase("metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", "\"__metadata__\" appears twice"),
    SafeTensorsMalformedCase("metadata key twice", "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", "key \"k\" appears twice"),
]

@Suite struct SafeTensorsMalformedInputTests {
    @Test(arguments: malformedCases)
    func malformedFileThrowsNamingTheFile(_ malformed: SafeTensorsMalformedCase) throws {
        let source = "corpus/\(malformed.name).safetensors"
        let error = try #require(readError(fileBytes(header: malformed.header, data: malformed.data), source: source))
        #expect(error.source == source)
        #expect(error.description.hasPrefix("\(source): "))
        #expect(error.message.contains(malformed.expected), "\(error.message)")
    }

    @Test func everyTruncationThrows() throws {
        let valid = try smallValidFile()
        #expect(throws: Never.self) { try SafeTensors(data: valid, source: "valid") }
        for length in 0..<valid.count {
            let source = "truncated-to-\(length).safetensors"
            let error = readError(valid.prefix(length), source: source)
            #expect(error?.source == source, "length \(length)")
        }
    }

    @Test func headerLengthFieldIsChecked() throws {
        let valid = try smallValidFile()
        let cases: [(UInt64, String)] = [
            (UInt64.max, "over the 100000000-byte limit"),
            (UInt64(SafeTensors.maximumHeaderSize) + 1, "over the 100000000-byte limit"),
            (UInt64(valid.count - 7), "runs past the end of the \(valid.count)-byte file"),
            (UInt64(valid.count - 8), "not valid"),  // the data section becomes part of the "header"
        ]
        for (length, expected) in cases {
            var file = valid
            file.replaceSubrange(0..<8, with: bytes([length]))
            let error = try #require(readError(file, source: "length.safetensors"))
            #expect(error.message.contains(expected), "\(length): \(error.message)")
        }
        let short = try #require(readError(Data([1, 2, 3]), source: "short.safetensors"))
        #expect(short.description == "short.safetensors: file is 3 bytes, too short for the 8-byte header length")
    }

    /// Flipping any one bit of the length field or the header must give an error naming the file or
    /// a file that still reads consistently (a flipped letter in a name is still a valid file).
    @Test func everyHeaderBitFlipThrowsOrStillReads() throws {
        let valid = try smallValidFile()
        let headerEnd = 8 + Int(valid.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var refused = 0
        for byte in 0..<headerEnd {
            for bit in 0..<8 {
                var file = valid
                file[byte] ^= 1 << bit
                if let error = readError(file, source: "flipped.safetensors") {
                    #expect(error.source == "flipped.safetensors")
                    refused += 1
                } else {
                    let read = try SafeTensors(data: file, source: "flipped.safetensors")
                    let covered = read.entries.reduce(0) { $0 + $1.tensor.byteCount }
                    #expect(covered == valid.count - headerEnd, "byte \(byte) bit \(bit)")
                }
            }
        }
        #expect(refused > headerEnd * 8 / 2)
    }

    /// Random splices of JSON punctuation and random bytes into the header: a small, seeded fuzzer
    /// that must never crash.
    @Test func randomHeaderMutationsNeverCrash() throws {
        let valid = try smallValidFile()
        let headerEnd = 8 + Int(valid.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let alphabet = Array("{}[]\":,-.0123456789eE \\u".utf8) + [0x00, 0x80, 0xC3, 0xFF]
        let generator = Generator(seed: 20261126)
        for _ in 0..<5000 {
            var file = valid
            for _ in 0...generator.nextInt(below: 3) {
                let position = 8 + generator.nextInt(below: headerEnd - 8)
                file[position] = alphabet[generator.nextInt(below: alphabet.count)]
            }
            if let error = readError(file, source: "fuzz.safetensors") {
                #expect(error.source == "fuzz.safetensors")
            }
        }
    }

    /// Files the reference implementation accepts that a stricter reader might wrongly refuse.
    @Test func acceptsWhatTheReferenceAccepts() throws {
        // Whitespace around the JSON, unknown fields, a null __metadata__, offsets listed out of
        // order, an empty tensor at a boundary, data not aligned to its element size, escapes.
        let header = """
             {"__metadata__": null,
              "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6], "extra": {"x": [1, 2]}},
              "z": {"dtype": "F32", "shape": [0, 5], "data_offsets": [2, 2]},
              "a\\u00e9\\ud83d\\ude00": {"data_offsets": [0, 2], "shape": [2], "dtype": "U8"}}\t\r\n
            """
        let one = Array(withUnsafeBytes(of: Float(1.5).bitPattern.littleEndian) { Array($0) })
        let file = try SafeTensors(data: fileBytes(header: header, data: [7, 9] + one), source: "lenient")
        #expect(file.names == ["b", "z", "a\u{E9}\u{1F600}"])
        #expect(file.metadata.isEmpty)
        #expect(try file.floatTensor(named: "b").scalars == [1.5])
        #expect(try file.floatTensor(named: "z").shape == [0, 5])
        #expect(try file.intTensor(named: "a\u{E9}\u{1F600}").scalars == [7, 9])

        // 127 levels of nesting (2 objects, 125 arrays), the most serde_json accepts.
        let deep = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":"
            + String(repeating: "[", count: 125) + String(repeating: "]", count: 125) + "}}"
        #expect(try SafeTensors(data: fileBytes(header: deep, data: [0]), source: "deep").count == 1)
    }

    @Test func unreadableFilesThrowNamingThePath() throws {
        try withTemporaryDirectory { directory in
            let missing = directory.appendingPathComponent("missing.safetensors").path
            let error = #expect(throws: DataFormatError.self) { try SafeTensors(contentsOf: missing) }
            #expect(error?.description == "\(missing): cannot open: No such file or directory")
            let folder = #expect(throws: DataFormatError.self) { try SafeTensors(contentsOf: directory) }
            #expect(folder?.source == directory.path)
            #expect(folder?.message == "not a regular file")
            #expect(throws: DataFormatError.self) { try SafeTensors(contentsOf: URL(string: "https://example.com/m.safetensors")!) }
        }
    }
}

// MARK: - Atomic writes

@Suite struct SafeTensorsAtomicWriteTests {
    @Test func writingIntoAMissingDirectoryThrowsNamingThePath() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("no/such/dir/model.safetensors").path
            let error = #expect(throws: DataFormatError.self) { try galenWrittenTensors().write(to: path) }
            #expect(error?.source == path)
            #expect(error?.message.contains("No such file or directory") == true)
            #expect(directoryListing(directory).isEmpty)
        }
    }

    @Test func failedRenameRemovesTheTemporaryFile() throws {
        try withTemporaryDirectory { directory in
            // The temporary file is written in full; renaming it over a non-empty directory fails.
            let target = directory.appendingPathComponent("model.safetensors")
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
            try Data([1]).write(to: target.appendingPathComponent("keep"))
            let error = #expect(throws: DataFormatError.self) { try galenWrittenTensors().write(to: target) }
            #expect(error?.source == target.path)
            #expect(error?.message.contains("cannot replace the file") == true)
            #expect(directoryListing(directory) == ["model.safetensors"])
            #expect(directoryListing(target) == ["keep"])

            // A path through a regular file.
            let throughFile = target.appendingPathComponent("keep/model.safetensors").path
            let notDirectory = #expect(throws: DataFormatError.self) { try galenWrittenTensors().write(to: throughFile) }
            #expect(notDirectory?.source == throughFile)

            let trailingSlash = directory.path + "/"
            let slash = #expect(throws: DataFormatError.self) { try SafeTensors().write(to: trailingSlash) }
            #expect(slash?.source == trailingSlash)
        }
    }

    @Test(.enabled(if: getuid() != 0, "root may write into read-only directories"))
    func writingIntoAReadOnlyDirectoryThrowsNamingThePath() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("model.safetensors").path
            chmod(directory.path, 0o555)
            let error = #expect(throws: DataFormatError.self) { try galenWrittenTensors().write(to: path) }
            #expect(error?.source == path)
            #expect(error?.message.contains("Permission denied") == true)
            #expect(directoryListing(directory).isEmpty)
        }
    }

    @Test func overwritingReplacesTheWholeFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("model.safetensors")
            var big = SafeTensors()
            big["weights"] = SafeTensor(Tensor.zeros([1000, 100]))
            try big.write(to: path)
            let small = try galenWrittenTensors()
            try small.write(to: path)
            #expect(try Data(contentsOf: path) == small.serialized())
            #expect(try SafeTensors(contentsOf: path) == small)
            #expect(directoryListing(directory) == ["model.safetensors"])
        }
    }
}
