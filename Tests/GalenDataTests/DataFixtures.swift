import Foundation
import Galen
import GalenData
import Testing

// The expectations that Scripts/fixtures/data_cases.py recorded with NumPy, and paths to the
// fixture files and the repository's Data/ folder.

/// One array as NumPy sees it.
struct ArrayCase: Decodable, CustomTestStringConvertible {
    let file: String
    let descr: String
    let shape: [Int]
    let fortranOrder: Bool
    /// NumPy's `astype(float32)` of the values, row-major, as bit patterns.
    let float32Bits: [UInt32]
    /// The values, for integer types that fit Int; nil for floats and for uint64 beyond Int.max.
    let ints: [Int]?
    /// The writer cases' dtype name (`float32`, `int64`, …).
    let dtype: String?

    var testDescription: String { file }
}

struct NPZCase: Decodable, CustomTestStringConvertible {
    let file: String
    let names: [String]
    let members: [String: ArrayCase]
    var testDescription: String { file }
}

struct MedMNISTCase: Decodable, CustomTestStringConvertible {
    struct Sample: Decodable {
        let index: [Int]
        let pixel: Int
        let normalizedBits: UInt32
    }
    struct Split: Decodable {
        let imagesShape: [Int]
        let labelsShape: [Int]
        let labelCounts: [Int]
        let pixelSum: Int
        let firstLabels: [Int]
        let samples: [Sample]
    }
    let flag: String
    let file: String
    let splits: [String: Split]
    var testDescription: String { flag }
}

struct DataCases: Decodable {
    let npy: [ArrayCase]
    let npz: [NPZCase]
    let writer: [ArrayCase]
    let medmnist: [MedMNISTCase]

    static let shared: DataCases = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let url = fixturesDirectory.appendingPathComponent("data_cases.json")
        do {
            return try decoder.decode(DataCases.self, from: Data(contentsOf: url))
        } catch {
            fatalError("cannot read \(url.path): \(error); run Scripts/make_fixtures.sh")
        }
    }()
}

let fixturesDirectory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

/// The path of a fixture file, e.g. `npy/f4_le_c.npy`.
func fixturePath(_ file: String) -> String {
    fixturesDirectory.appendingPathComponent(file).path
}

/// The repository root, found from this source file's location (Tests/GalenDataTests/…).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Bit patterns of a tensor's values, so that NaNs and signed zeros compare exactly.
func bitPatterns(_ tensor: Tensor) -> [UInt32] {
    tensor.scalars.map(\.bitPattern)
}

/// Checks that `array` holds what NumPy recorded in `expected`.
func expectArray(_ array: NPYArray, matches expected: ArrayCase, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(array.descr == expected.descr, "\(expected.file)", sourceLocation: sourceLocation)
    #expect(array.shape == expected.shape, "\(expected.file)", sourceLocation: sourceLocation)
    #expect(array.isFortranOrder == expected.fortranOrder, "\(expected.file)", sourceLocation: sourceLocation)
    let tensor = array.floatTensor()
    #expect(tensor.shape == expected.shape, sourceLocation: sourceLocation)
    #expect(bitPatterns(tensor) == expected.float32Bits, "\(expected.file): floatTensor()", sourceLocation: sourceLocation)
    if let ints = expected.ints {
        do {
            let converted = try array.intTensor()
            #expect(converted.shape == expected.shape, sourceLocation: sourceLocation)
            #expect(converted.scalars == ints, "\(expected.file): intTensor()", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(expected.file): intTensor() threw \(error)", sourceLocation: sourceLocation)
        }
    } else {
        #expect(throws: DataFormatError.self, "\(expected.file): intTensor() must refuse", sourceLocation: sourceLocation) {
            try array.intTensor()
        }
    }
}
