import Foundation
import Galen
@testable import GalenData
import Testing

// NIfTI reader and writer against nibabel's view of the bundled files
// (Scripts/fixtures/nifti_cases.py writes Fixtures/nifti_cases.json).

struct NIfTICase: Decodable, CustomTestStringConvertible {
    struct Sample: Decodable { let index: [Int]; let value: Double }
    let file: String
    let version: Int
    let shape: [Int]
    let datatype: Int
    let bigEndian: Bool
    let pixdim: [Double]
    let xyztUnits: Int
    let qformCode: Int
    let sformCode: Int
    let qform: [[Double]]
    let sform: [[Double]]
    let bestAffine: [[Double]]
    /// The scaling nibabel applies (1 and 0 when none).
    let sclSlope: Double
    let sclInter: Double
    let description: String
    let intentCode: Int
    let sum: Double
    let mean: Double
    let min: Double
    let max: Double
    let samples: [Sample]
    var testDescription: String { file }

    static let all: [NIfTICase] = {
        struct File: Decodable { let files: [NIfTICase] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let url = fixturesDirectory.appendingPathComponent("nifti_cases.json")
        do { return try decoder.decode(File.self, from: Data(contentsOf: url)).files } catch {
            fatalError("cannot read \(url.path): \(error); run Scripts/make_fixtures.sh")
        }
    }()
}

private func niftiDataPath(_ file: String) -> String {
    repositoryRoot.appendingPathComponent("Data/nifti/\(file)").path
}

private func close(_ a: [[Double]], _ b: [[Double]], tolerance: Double = 1e-4) -> Bool {
    guard a.count == b.count else { return false }
    for (r, s) in zip(a, b) {
        guard r.count == s.count else { return false }
        for (x, y) in zip(r, s) {
            let limit: Double = tolerance * (1 + abs(y))
            if abs(x - y) > limit { return false }
        }
    }
    return true
}

@Suite struct NIfTITests {
    @Test(arguments: NIfTICase.all)
    func readsBundledFile(_ c: NIfTICase) throws {
        let image = try readNIfTI(atPath: niftiDataPath(c.file))
        #expect(image.version == c.version)
        #expect(image.shape == c.shape)
        #expect(image.data.shape == c.shape)
        #expect(image.datatypeCode == c.datatype)
        #expect(image.bigEndian == c.bigEndian)
        #expect(image.qformCode == c.qformCode && image.sformCode == c.sformCode)
        #expect(image.xyztUnits == c.xyztUnits)
        #expect(image.intentCode == c.intentCode)
        #expect(image.description == c.description)
        for (a, b) in zip(image.pixdim, c.pixdim) { #expect(abs(a - b) <= 1e-6 * (1 + abs(b))) }
        #expect(close(image.qformAffine, c.qform), "qform \(image.qformAffine) vs \(c.qform)")
        #expect(close(image.sformAffine, c.sform))
        #expect(close(image.affine, c.bestAffine), "best \(image.affine) vs \(c.bestAffine)")
        let values = image.data.scalars
        let sum = values.reduce(0.0) { $0 + Double($1) }
        #expect(abs(sum - c.sum) <= 1e-6 * (1 + abs(c.sum)))
        #expect(abs(sum / Double(values.count) - c.mean) <= 1e-6 * (1 + abs(c.mean)))
        #expect(values.min()! == Float(c.min) && values.max()! == Float(c.max))
        if image.scalingApplied {
            #expect(Float(image.sclSlope) == Float(c.sclSlope) && Float(image.sclInter) == Float(c.sclInter))
        } else {
            #expect(c.sclSlope == 1 && c.sclInter == 0)
        }
        for sample in c.samples {
            var flat = 0
            for (i, d) in zip(sample.index, c.shape) { flat = flat * d + i }
            #expect(Double(values[flat]) == Float(sample.value).asDouble, "voxel \(sample.index)")
        }
    }

    @Test func roundTripAndNibabelFile() throws {
        let shape = [3, 4, 5]
        var values: [Float] = []
        for x in 0..<3 { for y in 0..<4 { for z in 0..<5 { values.append(Float(x + 10 * y + 100 * z)) } } }
        let affine: [[Double]] = [[0, -2, 0, 10], [1.5, 0, 0, -20], [0, 0, 3, 30], [0, 0, 0, 1]]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("galen-nifti-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, type) in [("a.nii.gz", NIfTIWriteType.float32), ("b.nii", .int16), ("c.nii.gz", .uint8)] {
            let path = directory.appendingPathComponent(name).path
            try writeNIfTI(Tensor(values.map { type == .uint8 ? min($0, 255) : $0 }, shape: shape), affine: affine,
                           toPath: path, type: type, description: "galen test")
            let image = try readNIfTI(atPath: path)
            #expect(image.shape == shape)
            #expect(image.data.scalars == values.map { type == .uint8 ? min($0, 255) : $0 }, "\(name)")
            #expect(close(image.sformAffine, affine))
            #expect(close(image.qformAffine, affine, tolerance: 1e-5), "\(image.qformAffine)")
            #expect(image.description == "galen test")
        }
        // The committed file that Scripts/fixtures/nifti_cases.py checks with nibabel: this writer
        // still reads as written. GALEN_WRITE_NIFTI_FIXTURE=1 regenerates it.
        let committed = repositoryRoot.appendingPathComponent("Tests/GalenDataTests/Fixtures/nifti_galen_written.nii.gz").path
        if ProcessInfo.processInfo.environment["GALEN_WRITE_NIFTI_FIXTURE"] != nil {
            try writeNIfTI(Tensor(values, shape: shape), affine: affine, toPath: committed)
        }
        let image = try readNIfTI(atPath: committed)
        #expect(image.data.scalars == values)
        #expect(close(image.sformAffine, affine))
    }

    @Test func scalingFollowsTheSpec() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("galen-nifti-scl-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("s.nii").path
        try writeNIfTI(Tensor([1, 2], shape: [2]), affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
                       toPath: path, type: .int16)
        let good = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        func with(slope: Float, inter: Float) throws -> NIfTIImage {
            var bytes = good
            bytes.withUnsafeMutableBytes { p in
                p.storeBytes(of: slope.bitPattern.littleEndian, toByteOffset: 112, as: UInt32.self)
                p.storeBytes(of: inter.bitPattern.littleEndian, toByteOffset: 116, as: UInt32.self)
            }
            return try parseNIfTI(bytes, source: "s.nii")
        }
        #expect(try with(slope: 2, inter: 1).data.scalars == [3, 5])
        #expect(try with(slope: 0, inter: 7).data.scalars == [1, 2])  // slope 0: no scaling
        #expect(try with(slope: .nan, inter: 7).data.scalars == [1, 2])
    }

    @Test func malformedInputsThrowNamingTheFile() throws {
        let source = "bad.nii"
        func expectError(_ bytes: [UInt8], _ what: String) {
            do {
                _ = try parseNIfTI(bytes, source: source)
                Issue.record("\(what): no error")
            } catch let error as DataFormatError {
                #expect(error.source == source, "\(what)")
            } catch { Issue.record("\(what): \(error)") }
        }
        // A small valid file: 2×2×2 float32.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("galen-nifti-bad-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("small.nii").path
        try writeNIfTI(Tensor([Float](repeating: 1, count: 8), shape: [2, 2, 2]),
                       affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], toPath: path)
        let good = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        _ = try parseNIfTI(good, source: source)
        for n in 0..<good.count { expectError(Array(good.prefix(n)), "truncated to \(n)") }
        var bad = good; bad[0] = 99; expectError(bad, "sizeof_hdr")
        bad = good; bad[40] = 9; expectError(bad, "dim[0] = 9")
        bad = good; bad[42] = 0xFF; bad[43] = 0x7F; expectError(bad, "dim[1] too large for the file")
        bad = good; bad[70] = 32; expectError(bad, "complex datatype")
        bad = good; bad[42] = 0; bad[43] = 0; expectError(bad, "dim[1] = 0")
        // NIfTI-2 with dims whose product overflows.
        var two = [UInt8](repeating: 0, count: 560)
        two.withUnsafeMutableBytes { p in
            p.storeBytes(of: Int32(540), toByteOffset: 0, as: Int32.self)
            for (i, b) in [0x6E, 0x2B, 0x32, 0, 0x0D, 0x0A, 0x1A, 0x0A].enumerated() { p[4 + i] = UInt8(b) }
            p.storeBytes(of: Int16(16), toByteOffset: 12, as: Int16.self)
            p.storeBytes(of: Int64(3), toByteOffset: 16, as: Int64.self)
            for i in 1...3 { p.storeBytes(of: Int64(1) << 40, toByteOffset: 16 + 8 * i, as: Int64.self) }
            p.storeBytes(of: Int64(544), toByteOffset: 168, as: Int64.self)
        }
        expectError(two, "NIfTI-2 overflow")
        // Bad gzip through the file reader.
        let gzPath = directory.appendingPathComponent("bad.nii.gz").path
        let compressed = deflate(good, format: .gzip)
        for (label, bytes) in [("truncated gzip", Array(compressed.prefix(compressed.count / 2))),
                               ("corrupt gzip", compressed.enumerated().map { $0.offset == 12 ? $0.element ^ 0xFF : $0.element })] {
            try Data(bytes).write(to: URL(fileURLWithPath: gzPath))
            do { _ = try readNIfTI(atPath: gzPath); Issue.record("\(label): no error") } catch let error as DataFormatError {
                #expect(error.source == gzPath, "\(label)")
            }
        }
    }
}

private extension Float { var asDouble: Double { Double(self) } }
