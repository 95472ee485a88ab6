import Foundation
import Galen
@testable import GalenData
import Testing

// Reading NumPy's files exactly (every dtype, byte order, memory order, version and old header
// spellings), writing the bytes np.save writes, and header errors with clear messages.

@Suite struct NPYReading {
    @Test(arguments: DataCases.shared.npy)
    func readsWhatNumPyWrote(_ expected: ArrayCase) throws {
        let array = try NPYArray(contentsOf: fixturePath(expected.file))
        expectArray(array, matches: expected)
        #expect(array.source == fixturePath(expected.file))
    }

    @Test func fortranOrderKeepsTheStoredBytes() throws {
        // The array keeps the file's layout; only conversions reorder.
        let array = try NPYArray(contentsOf: fixturePath("npy/i4_le_f.npy"))
        #expect(array.isFortranOrder)
        let rowMajor = try NPYArray(contentsOf: fixturePath("npy/i4_le_c.npy"))
        #expect(array.bytes != rowMajor.bytes)
        #expect(try array.intTensor() == rowMajor.intTensor())
    }

    @Test func uint64BeyondIntMaxNamesTheValue() throws {
        let array = try NPYArray(contentsOf: fixturePath("npy/u8_le_c.npy"))
        let error = try #require(throws: DataFormatError.self) { try array.intTensor() }
        #expect(error.source.hasSuffix("u8_le_c.npy"))
        // 2^63, the first value past Int.max in the fixture.
        #expect(error.message == "uint64 value 9223372036854775808 at index 3 does not fit in Int")
    }

    @Test func floatDataRefusesIntTensor() throws {
        let array = try NPYArray(contentsOf: fixturePath("npy/f4_le_c.npy"))
        let error = try #require(throws: DataFormatError.self) { try array.intTensor() }
        #expect(error.message.contains("<f4"))
    }

    @Test func float16WidensEveryBitPatternExactly() {
        // Against the definition: sign · 2^(e−15) · (1 + m/1024), subnormals sign · 2^−14 · m/1024.
        for bits in 0...UInt16.max {
            let widened = Float(bitPattern: float32Bits(fromFloat16Bits: bits))
            let sign: Float = bits & 0x8000 != 0 ? -1 : 1
            let exponent = Int(bits >> 10) & 0x1F
            let mantissa = Float(bits & 0x3FF)
            if exponent == 0x1F {
                #expect(mantissa == 0 ? widened == sign * .infinity : widened.isNaN)
                continue
            }
            let expected = exponent == 0
                ? sign * Float(sign: .plus, exponent: -14, significand: mantissa / 1024)
                : sign * Float(sign: .plus, exponent: exponent - 15, significand: 1 + mantissa / 1024)
            if widened.bitPattern != expected.bitPattern {
                Issue.record("half 0x\(String(bits, radix: 16)) widened to \(widened), expected \(expected)")
                return
            }
        }
    }
}

@Suite struct NPYWriting {
    /// The Galen array for a writer case, built from a Galen tensor as a user would.
    private func galenArray(for expected: ArrayCase) throws -> NPYArray {
        switch expected.dtype {
        case "float32", "float64":
            let values = expected.float32Bits.map(Float.init(bitPattern:))
            return NPYArray(Tensor(values, shape: expected.shape), dtype: expected.dtype == "float32" ? .float32 : .float64)
        case "int64":
            return NPYArray(IntTensor(try #require(expected.ints), shape: expected.shape), dtype: .int64)
        case "uint8":
            return NPYArray(IntTensor(try #require(expected.ints), shape: expected.shape), dtype: .uint8)
        default:
            throw DataFormatError(source: expected.file, message: "unknown writer dtype \(expected.dtype ?? "nil")")
        }
    }

    @Test(arguments: DataCases.shared.writer)
    func writesTheBytesNumPyWrites(_ expected: ArrayCase) throws {
        let numpyBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturePath(expected.file))))
        let written = try galenArray(for: expected).npyBytes()
        #expect(written == numpyBytes, "\(expected.file): Galen's bytes differ from np.save's")
        // And what Galen wrote reads back to the same values.
        let reread = try NPYArray(bytes: written, source: expected.file)
        expectArray(reread, matches: expected)
    }

    @Test func roundTripsThroughAFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("galen-npy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let tensor = Tensor((0..<60).map { Float($0) * 0.37 - 5 }, shape: [3, 4, 5])
        let path = directory.appendingPathComponent("x.npy").path
        try NPYArray(tensor, dtype: .float32).write(toFile: path)
        #expect(try NPYArray(contentsOf: path).floatTensor().scalars == tensor.scalars)

        // A strided view is written in row-major order of its logical shape.
        let transposed = tensor.permuted([2, 0, 1])
        try NPYArray(transposed, dtype: .float64).write(toFile: path)
        let reread = try NPYArray(contentsOf: path)
        #expect(reread.descr == "<f8" && reread.shape == [5, 3, 4])
        #expect(reread.floatTensor().scalars == transposed.contiguous().scalars)

        let labels = IntTensor([3, 0, 255, 7], shape: [2, 2])
        try NPYArray(labels, dtype: .uint8).write(toFile: path)
        #expect(try NPYArray(contentsOf: path).intTensor() == labels)

        // Every stored layout round-trips as is, Fortran order and big-endian included.
        let fortran = try NPYArray(contentsOf: fixturePath("npy/f8_be_f_4d.npy"))
        try fortran.write(toFile: path)
        #expect(try NPYArray(contentsOf: path) == fortran)
    }

    @Test func writingToAMissingDirectoryThrowsNamingThePath() {
        let path = "/nonexistent-galen-directory/x.npy"
        let error = #expect(throws: DataFormatError.self) {
            try NPYArray(Tensor([1, 2, 3]), dtype: .float32).write(toFile: path)
        }
        #expect(error?.source == path)
    }

    @Test func byteInitializerChecksTheCount() throws {
        #expect(throws: DataFormatError.self) { try NPYArray(dtype: .float32, shape: [2, 2], bytes: [0, 0, 0, 0]) }
        #expect(throws: DataFormatError.self) { try NPYArray(dtype: .uint8, shape: [-1], bytes: []) }
        let bigEndian = try NPYArray(dtype: .int16, shape: [2], bytes: [0, 1, 1, 0], bigEndian: true)
        #expect(try bigEndian.intTensor() == IntTensor([1, 256]))
    }
}

/// NPY files with one thing wrong, and the error each must give.
@Suite struct NPYHeaderErrors {
    /// An .npy file from a header text (padded like NumPy's) and data bytes.
    static func npy(header: String, data: [UInt8] = [], version: (UInt8, UInt8) = (1, 0)) -> [UInt8] {
        let header = Array(header.utf8) + [UInt8(ascii: "\n")]
        let lengthSize = version.0 == 1 ? 2 : 4
        var file = NPYArray.magic + [version.0, version.1]
        withUnsafeBytes(of: UInt32(header.count).littleEndian) { file += $0.prefix(lengthSize) }
        file += header
        file += data
        return file
    }

    static let cases: [(name: String, file: [UInt8], message: String)] = [
        ("empty file", [], "truncated: 0 bytes"),
        ("cut inside the magic", [0x93, 0x4E, 0x55], "truncated: 3 bytes"),
        ("wrong magic", Array("PK\u{3}\u{4}NUMPY".utf8), "bad magic"),
        ("pickle", [0x80, 0x04, 0x95, 0, 0, 0, 0, 0], "bad magic"),
        ("version 4", npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", version: (4, 0)), "unsupported NPY version 4.0"),
        ("version 1.1", npy(header: "{}", version: (1, 1)), "unsupported NPY version 1.1"),
        ("header runs past the end", NPYArray.magic + [1, 0, 0xFF, 0xFF] + Array("{'descr'".utf8), "truncated"),
        ("not a dict", npy(header: "['<f4', False, (1,)]"), "not a dictionary"),
        ("not a literal", npy(header: "{'descr': np.float32, 'fortran_order': False, 'shape': (1,)}"), "unexpected name"),
        ("unterminated string", npy(header: "{'descr: '<f4'}"), "malformed header"),
        ("missing shape", npy(header: "{'descr': '<f4', 'fortran_order': False}"), "missing key 'shape'"),
        ("extra key", npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}"), "unexpected key 'x'"),
        ("duplicate key", npy(header: "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}"), "appears twice"),
        ("negative dimension", npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }"), "non-negative"),
        ("shape not a tuple", npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': 3, }"), "not a tuple"),
        ("shape as list", npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': [3], }"), "not a tuple"),
        ("float dimension", npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,), }"), "decimal integers"),
        ("huge dimension", npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }"), "too large"),
        ("overflowing shape", npy(header: "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"), "too many elements"),
        ("fortran_order not bool", npy(header: "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }"), "not True or False"),
        ("object array", npy(header: "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", data: Array(repeating: 0, count: 8)), "object array"),
        ("string array", npy(header: "{'descr': '<U5', 'fortran_order': False, 'shape': (1,), }"), "string"),
        ("complex array", npy(header: "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }"), "complex"),
        ("long double", npy(header: "{'descr': '<f16', 'fortran_order': False, 'shape': (1,), }"), "extended-precision"),
        ("structured array", npy(header: "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }"), "structured"),
        ("descr not a string", npy(header: "{'descr': 4, 'fortran_order': False, 'shape': (1,), }"), "not a type string"),
        ("data too short", npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data: Array(repeating: 0, count: 23)), "data too short"),
        ("deep nesting", npy(header: String(repeating: "(", count: 10_000)), "nested more than"),
        ("trailing text", npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x"), "unexpected text"),
    ]

    @Test(arguments: cases.indices)
    func throwsNamingTheFileAndTheProblem(_ index: Int) {
        let testCase = Self.cases[index]
        let source = "case-\(index).npy"
        let error = #expect(throws: DataFormatError.self, "\(testCase.name)") {
            try NPYArray(bytes: testCase.file, source: source)
        }
        #expect(error?.source == source, "\(testCase.name)")
        #expect(error?.message.contains(testCase.message) == true, "\(testCase.name): \(String(describing: error))")
    }

    @Test func missingFileNamesThePathAndTheReason() {
        let error = #expect(throws: DataFormatError.self) { try NPYArray(contentsOf: "/nonexistent/x.npy") }
        #expect(error?.description == "/nonexistent/x.npy: cannot open: No such file or directory")
        #expect(throws: DataFormatError.self) { try NPYArray(contentsOf: "/tmp") }
    }

    @Test func trailingBytesAfterTheDataAreIgnoredAsNumPyDoes() throws {
        let file = Self.npy(header: "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", data: [1, 0, 2, 0, 9, 9, 9])
        #expect(try NPYArray(bytes: file).intTensor() == IntTensor([1, 2]))
    }
}
