import Foundation
import Galen
@testable import GalenData
import Testing

// The DICOM reader against pydicom's view of the bundled files and of small files pydicom wrote
// (Scripts/fixtures/dicom_cases.py writes Fixtures/dicom_cases.json), plus malformed input.

struct DICOMCase: Decodable, CustomTestStringConvertible {
    struct Sample: Decodable { let index: Int; let value: Double }
    let file: String
    /// `reads`, `refused` (a transfer syntax Galen does not decode) or `malformed`.
    let outcome: String
    let transferSyntaxUid: String?
    let modality: String?
    let rows: Int?
    let columns: Int?
    let numberOfFrames: Int
    let samplesPerPixel: Int?
    let bitsAllocated: Int?
    let bitsStored: Int?
    let pixelRepresentation: Int?
    let photometricInterpretation: String?
    let rescaleSlope: [Double]?
    let rescaleIntercept: [Double]?
    let windowCenter: [Double]?
    let windowWidth: [Double]?
    let pixelSpacing: [Double]?
    let sliceThickness: [Double]?
    let imagePosition: [Double]?
    let imageOrientation: [Double]?
    let seriesInstanceUid: String?
    /// The file's bytes for the files the script wrote; nil for files in Data/dicom.
    let base64: String?
    let shape: [Int]?
    let sum: Double?
    let mean: Double?
    let min: Double?
    let max: Double?
    let samples: [Sample]?
    let windowedSamples: [Sample]?
    let samePixelsAs: String?
    var testDescription: String { file }

    var path: String { base64 == nil ? dicomDataPath(file) : "synthetic/\(file)" }
    func bytes() throws -> [UInt8] {
        if let base64 { return Array(Data(base64Encoded: base64)!) }
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static let all: [DICOMCase] = {
        struct File: Decodable { let files: [DICOMCase] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let url = fixturesDirectory.appendingPathComponent("dicom_cases.json")
        do { return try decoder.decode(File.self, from: Data(contentsOf: url)).files } catch {
            fatalError("cannot read \(url.path): \(error); run Scripts/make_fixtures.sh")
        }
    }()
    static let readable = all.filter { $0.outcome == "reads" }
}

func dicomDataPath(_ file: String) -> String {
    repositoryRoot.appendingPathComponent("Data/dicom/\(file)").path
}

private func near(_ a: Double, _ b: Double, _ tolerance: Double = 1e-6) -> Bool {
    abs(a - b) <= tolerance * (1 + abs(b))
}

private func near(_ a: [Double]?, _ b: [Double]?) -> Bool {
    guard let a, let b else { return a == nil && b == nil }
    return a.count == b.count && zip(a, b).allSatisfy { near($0, $1) }
}

@Suite struct DICOMTests {
    @Test(arguments: DICOMCase.readable)
    func readsLikePydicom(_ c: DICOMCase) throws {
        let image = try DICOMImage.parse(c.bytes(), source: c.path)
        let m = image.metadata
        #expect(image.pixels.shape == c.shape!)
        #expect(m.transferSyntax.uid == c.transferSyntaxUid)
        #expect(m.modality == c.modality)
        #expect(m.rows == c.rows && m.columns == c.columns && m.numberOfFrames == c.numberOfFrames)
        #expect(m.samplesPerPixel == c.samplesPerPixel && m.bitsAllocated == c.bitsAllocated && m.bitsStored == c.bitsStored)
        #expect(m.pixelRepresentation == c.pixelRepresentation)
        #expect(m.photometricInterpretation == c.photometricInterpretation)
        #expect(m.outputPhotometricInterpretation == (c.samplesPerPixel == 3 ? "RGB" : c.photometricInterpretation))
        #expect(m.rescaleSlope == c.rescaleSlope?[0] ?? 1 && m.rescaleIntercept == c.rescaleIntercept?[0] ?? 0)
        #expect(m.rescaleApplied == (c.rescaleSlope != nil))
        #expect(m.windows.map(\.center) == c.windowCenter ?? [] && m.windows.map(\.width) == c.windowWidth ?? [])
        #expect(near(m.pixelSpacing, c.pixelSpacing))
        #expect(near(m.sliceThickness.map { [$0] }, c.sliceThickness))
        #expect(near(m.imagePositionPatient, c.imagePosition))
        #expect(near(m.imageOrientationPatient, c.imageOrientation))
        #expect(m.seriesInstanceUID == c.seriesInstanceUid)

        let values = image.pixels.scalars
        let sum = values.reduce(0.0) { $0 + Double($1) }
        #expect(near(sum, c.sum!), "sum \(sum) vs \(c.sum!)")
        #expect(near(sum / Double(values.count), c.mean!))
        #expect(values.min()! == Float(c.min!) && values.max()! == Float(c.max!))
        for sample in c.samples! {
            #expect(values[sample.index] == Float(sample.value), "value at flat index \(sample.index)")
        }
        if let expected = c.windowedSamples {
            let windowed = image.windowed(invertMonochrome1: false).scalars
            let inverted = image.windowed().scalars
            for sample in expected {
                #expect(abs(Double(windowed[sample.index]) - sample.value) <= 1e-5, "window at \(sample.index)")
                let display = m.photometricInterpretation == "MONOCHROME1" ? 1 - sample.value : sample.value
                #expect(abs(Double(inverted[sample.index]) - display) <= 1e-5)
            }
        }
    }

    @Test func losslessEncodingsDecodeToTheSamePixels() throws {
        let reference = try readDICOM(atPath: dicomDataPath("MR_small.dcm")).pixels.scalars
        for file in ["MR_small_RLE.dcm", "MR_small_implicit.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"] {
            #expect(try readDICOM(atPath: dicomDataPath(file)).pixels.scalars == reference, "\(file)")
        }
    }

    @Test(arguments: DICOMCase.all.filter { $0.outcome == "refused" })
    func refusesTransferSyntaxByName(_ c: DICOMCase) throws {
        do {
            _ = try readDICOM(atPath: c.path)
            Issue.record("no error")
        } catch let error as DataFormatError {
            #expect(error.source == c.path)
            let syntax = DICOMTransferSyntax(uid: c.transferSyntaxUid!)
            #expect(error.message.contains(syntax.uid) && error.message.contains(syntax.name), "\(error.message)")
        }
        // The header still reads.
        let header = try readDICOMHeader(atPath: c.path)
        #expect(header.transferSyntax.name == "JPEG Extended (Process 2 & 4)")
        #expect(header.dataSet.int(DICOMTags.rows) == c.rows)
    }

    @Test(arguments: DICOMCase.all.filter { $0.outcome == "malformed" })
    func malformedFilesThrowNamingTheFile(_ c: DICOMCase) throws {
        do {
            _ = try readDICOM(atPath: c.path)
            Issue.record("no error")
        } catch let error as DataFormatError {
            #expect(error.source == c.path, "\(error)")
        }
    }

    @Test func headerAndDataSetAccess() throws {
        let file = try readDICOMHeader(atPath: dicomDataPath("CT_small.dcm"))
        #expect(file.hasPreamble && file.headerOnly)
        #expect(file.transferSyntax == .explicitVRLittleEndian)
        let ds = file.dataSet
        #expect(!ds.contains(DICOMTags.pixelData))
        #expect(ds.string(DICOMTags.modality) == "CT")
        #expect(ds.int(DICOMTags.rows) == 128 && ds[DICOMTags.rows]?.vr == "US")
        #expect(ds.strings(DICOMTags.imageOrientationPatient).count == 6)
        #expect(DICOMTags.rows.label == "(0028,0010) Rows")
        #expect(DICOMTag(0x0009, 0x1001).label == "(0009,1001)")
        #expect(file.fileMeta.string(DICOMTags.transferSyntaxUID) == "1.2.840.10008.1.2.1")
        // The summary carries no patient data.
        let image = try readDICOM(atPath: dicomDataPath("CT_small.dcm"))
        let name = try #require(image.dataSet.string(DICOMTag(0x0010, 0x0010)))
        #expect(!name.isEmpty && !image.metadata.description.contains(name))
        #expect(image.metadata.description.contains("CT"))
        // A header-only parse of a file whose pixel data is cut short succeeds.
        #expect(try readDICOMHeader(atPath: dicomDataPath("MR_truncated.dcm")).dataSet.int(DICOMTags.columns) == 64)
    }

    @Test func nestedSequencesOfUndefinedLength() throws {
        let c = try #require(DICOMCase.all.first { $0.file == "synthetic_int32_nested_sequences.dcm" })
        let ds = try DICOMFile.parse(c.bytes(), source: c.file).dataSet
        let referenced = DICOMTag(0x0008, 0x1140)
        let items = ds.items(referenced)
        #expect(items.count == 2 && ds[referenced]!.undefinedLength)
        #expect(items[0].string(DICOMTag(0x0008, 0x1150)) == "1.2.3")
        #expect(items[0].items(referenced).first?.string(DICOMTag(0x0008, 0x1155)) == "1.2.3.4")
        #expect(items[1].elements.isEmpty)
    }

    @Test func rleSegmentDecoding() throws {
        // Literal run of 3, replicate 0x07 four times, a no-op, literal of 1.
        let segment: [UInt8] = [2, 10, 11, 12, 0xFD, 7, 0x80, 0, 99]
        var out = [UInt8](repeating: 0, count: 16)
        let fail = { (m: String) in DataFormatError(source: "rle", message: m) }
        try segment.withUnsafeBytes { raw in
            try out.withUnsafeMutableBufferPointer { try decodeRLESegment(raw, into: $0.baseAddress!, count: 8, stride: 2, fail: fail) }
        }
        #expect(out == [10, 0, 11, 0, 12, 0, 7, 0, 7, 0, 7, 0, 7, 0, 99, 0])
        #expect(throws: DataFormatError.self) {
            try segment.withUnsafeBytes { raw in
                try out.withUnsafeMutableBufferPointer { try decodeRLESegment(raw, into: $0.baseAddress!, count: 9, stride: 1, fail: fail) }
            }
        }
    }

    @Test func windowFunctions() {
        let linear = DICOMWindow(center: 40, width: 400)
        #expect(linear.apply(-160.5) == 0 && linear.apply(239.5) == 1)
        #expect(abs(linear.apply(40) - (40 - 39.5) / 399 - 0.5) < 1e-12)
        let exact = DICOMWindow(center: 0, width: 10, function: .linearExact)
        #expect(exact.apply(-5) == 0 && exact.apply(0) == 0.5 && exact.apply(2.5) == 0.75)
        #expect(DICOMWindow(center: 0, width: 10, function: .sigmoid).apply(0) == 0.5)
        let tensor = linear.apply(to: Tensor([-1000, 40, 1000], shape: [3]))
        #expect(tensor.scalars[0] == 0 && tensor.scalars[2] == 1)
    }

    /// Every prefix (at a stride) and many bit flips of every file: an error or a result, never a crash.
    @Test(arguments: DICOMCase.all)
    func damagedCopiesNeverCrash(_ c: DICOMCase) throws {
        let good = try c.bytes()
        let stride = Swift.max(1, good.count / 300)
        for n in Swift.stride(from: 0, to: good.count, by: stride) {
            _ = try? DICOMImage.parse(Array(good.prefix(n)), source: c.file)
        }
        // Most flipped copies decode in full, so large files get fewer of them.
        var generator = DICOMDamageGenerator(seed: 7)
        for _ in 0..<Swift.min(300, Swift.max(20, 1_000_000 / good.count)) {
            var bad = good
            // Mostly in the header, where the structure is.
            let limit = generator.next() % 4 == 0 ? good.count : Swift.min(good.count, 2048)
            let position = Int(generator.next() % UInt64(limit))
            bad[position] ^= UInt8(1) << (generator.next() % 8)
            _ = try? DICOMImage.parse(bad, source: c.file)
        }
    }

    @Test func corruptHeadersThrowNamingTheField() throws {
        let good = try DICOMCase.all.first { $0.file == "MR_small.dcm" }!.bytes()
        let file = try DICOMFile.parse(good, source: "mr.dcm")
        func expectError(_ tag: DICOMTag, _ value: [UInt8], mentioning text: String) {
            var bad = good
            let range = file.dataSet[tag]!.valueRange
            for (i, b) in value.enumerated() { bad[range.lowerBound + i] = b }
            do {
                _ = try DICOMImage.parse(bad, source: "mr.dcm")
                Issue.record("\(tag.label): no error")
            } catch let error as DataFormatError {
                #expect(error.source == "mr.dcm" && error.message.contains(text), "\(error.message)")
            } catch { Issue.record("\(error)") }
        }
        expectError(DICOMTags.rows, [0x00, 0x10], mentioning: "Pixel Data")  // 4096 rows: too few bytes
        expectError(DICOMTags.bitsAllocated, [12, 0], mentioning: "Bits Allocated")
        expectError(DICOMTags.samplesPerPixel, [2, 0], mentioning: "Photometric Interpretation")
        #expect(throws: DataFormatError.self) { try DICOMImage.parse(Array("not a DICOM file at all".utf8), source: "x") }
        #expect(throws: DataFormatError.self) { try DICOMImage.parse([], source: "x") }
    }
}

/// A small deterministic generator for the damage tests.
struct DICOMDamageGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
