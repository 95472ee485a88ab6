import Foundation
import Galen
@testable import GalenData
import Testing

// Beat windows of MIT-BIH record 100 against the signal and annotations as the `wfdb` package
// reads them (Scripts/fixtures/dataset_cases.py).

struct BeatCases: Decodable {
    struct Window: Decodable {
        let index: Int
        let sample: Int
        let symbol: String
        let label: Int
        let head: [Double]
        let beatValues: [Double]
        let sum: Double
    }
    struct Case: Decodable, CustomTestStringConvertible {
        let leads: [String]
        let before: Int
        let after: Int
        let annotationCount: Int
        let beatAnnotations: Int
        let count: Int
        let classCounts: [Int]
        let skippedAtEdges: Int
        let windows: [Window]
        var testDescription: String { "\(leads) \(before)+\(after)" }
    }
    let beats: [Case]

    static let shared = loadDatasetCases(BeatCases.self)
}

private let record100 = repositoryRoot.appendingPathComponent("Data/ecg/100").path

@Suite struct WFDBBeatDatasetTests {
    @Test(arguments: BeatCases.shared.beats)
    func windowsMatchWFDB(_ expected: BeatCases.Case) throws {
        #expect(expected.beatAnnotations == 2273 && expected.annotationCount == 2274)
        let dataset = try WFDBBeatDataset(record: record100, leads: expected.leads,
                                          before: .samples(expected.before), after: .samples(expected.after))
        #expect(dataset.leads == expected.leads && dataset.frequency == 360)
        #expect(dataset.count == expected.count)
        #expect(dataset.classCounts == expected.classCounts)
        #expect(dataset.skippedAtEdges == expected.skippedAtEdges)
        #expect(dataset.count + dataset.skippedAtEdges == 2273)
        #expect(dataset.skippedWithInvalidSamples == 0 && dataset.unmappedBeats.isEmpty)
        let length = expected.before + expected.after
        for window in expected.windows {
            let beat = dataset.beats[window.index]
            #expect(beat.sample == window.sample && beat.symbol == window.symbol && beat.beatClass.rawValue == window.label)
            let example = try dataset.example(at: window.index)
            #expect(example.input.shape == [expected.leads.count, length])
            #expect(example.label == IntTensor([window.label]))
            let values = example.input.scalars
            for lead in expected.leads.indices {
                for k in 0..<4 {
                    #expect(abs(Double(values[lead * length + k]) - window.head[lead * 4 + k]) <= 1e-6,
                            "beat \(window.index) lead \(lead) sample \(k)")
                }
                #expect(abs(Double(values[lead * length + expected.before]) - window.beatValues[lead]) <= 1e-6)
            }
            let sum = values.reduce(0.0) { $0 + Double($1) }
            #expect(abs(sum - window.sum) < 1e-4, "beat \(window.index): sum \(sum) vs \(window.sum)")
        }
    }

    @Test func defaultWindowInSeconds() throws {
        let dataset = try WFDBBeatDataset(record: record100)
        // 0.25 s and 0.45 s at 360 Hz; all leads by default.
        #expect(dataset.before == 90 && dataset.after == 162 && dataset.windowLength == 252)
        #expect(dataset.leads == ["MLII", "V5"])
        #expect(dataset.classCounts == [2237, 33, 1, 0, 0])
        #expect(try dataset.example(at: 0).input.shape == [2, 252])
        #expect(BeatWindowLength.seconds(0.1).samples(atFrequency: 250) == 25)
        let batch = Batch(collating: try (0..<3).map { try dataset.example(at: $0) }, indices: [0, 1, 2])
        #expect(batch.input.shape == [3, 2, 252] && batch.label?.shape == [3])
    }

    @Test func mappingAndEdges() throws {
        var mapping = AAMIClass.standardMapping
        mapping["A"] = nil
        let withoutA = try WFDBBeatDataset(record: record100, leads: ["V5"], mapping: mapping)
        #expect(withoutA.unmappedBeats == ["A": 33])
        #expect(withoutA.classCounts == [2237, 0, 1, 0, 0])
        #expect(withoutA.beats.allSatisfy { $0.symbol != "A" })
        // A window longer than the record fits no beat.
        let huge = try WFDBBeatDataset(record: record100, before: .seconds(2000), after: .samples(1))
        #expect(huge.count == 0 && huge.skippedAtEdges == 2273)
        #expect(AAMIClass.standardMapping.count == 15 && AAMIClass.allCases.map(\.description) == ["N", "S", "V", "F", "Q"])
        #expect(AAMIClass.standardMapping["e"] == .normal && AAMIClass.standardMapping["f"] == .unknown)
    }

    @Test func errorsNameTheFile() throws {
        let lead = try #require(throws: DataFormatError.self) { try WFDBBeatDataset(record: record100, leads: ["II"]) }
        #expect(lead.source.hasSuffix("100.hea") && lead.message.contains("no lead named 'II'"), "\(lead)")
        let annotator = try #require(throws: DataFormatError.self) { try WFDBBeatDataset(record: record100, annotator: "qrs") }
        #expect(annotator.source.hasSuffix("100.qrs"))
    }
}
