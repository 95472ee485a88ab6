import Foundation
import Galen
@testable import GalenData
import Testing

// WFDB records and annotations against the `wfdb` Python package's reading
// (Scripts/fixtures/wfdb_cases.py), and malformed inputs that must throw naming the file.

struct WFDBRecordCase: Decodable {
    let record: String
    let frequency: Double
    let sampleCount: Int
    let names: [String]
    let units: [String]
    let gains: [Double]
    let baselines: [Int]
    let formats: [Int]
    let files: [String]
    let comments: [String]
    let first: [[Double?]]
    let last: [[Double?]]
    let digitalSums: [Int]
    let physicalSums: [Double]
}

struct WFDBAnnotationEntry: Decodable {
    let sample: Int
    let symbol: String
    let subtype: Int
    let channel: Int
    let num: Int
    let aux: String
}

struct WFDBAnnotationCase: Decodable {
    let record: String
    let count: Int
    let counts: [String: Int]
    let first: [WFDBAnnotationEntry]
    let lastSample: Int
}

struct WFDBCases: Decodable {
    let records: [WFDBRecordCase]
    let annotations: [WFDBAnnotationCase]

    static let shared: WFDBCases = {
        let url = fixturesDirectory.appendingPathComponent("wfdb_cases.json")
        return try! JSONDecoder().decode(WFDBCases.self, from: Data(contentsOf: url))
    }()
}

let ecgDirectory = repositoryRoot.appendingPathComponent("Data/ecg").path

@Suite struct WFDBReading {
    @Test(arguments: WFDBCases.shared.records.map(\.record))
    func readsWhatWFDBRead(_ name: String) throws {
        let expected = try #require(WFDBCases.shared.records.first { $0.record == name })
        let record = try WFDBRecord(contentsOf: ecgDirectory + "/" + name)
        let channels = expected.names.count
        #expect(record.frequency == expected.frequency)
        #expect(record.sampleCount == expected.sampleCount)
        #expect(record.signals.shape == [channels, expected.sampleCount])
        #expect(record.signalNames == expected.names)
        #expect(record.signalInfo.map(\.units) == expected.units)
        #expect(record.signalInfo.map(\.gain) == expected.gains)
        #expect(record.signalInfo.map(\.baseline) == expected.baselines)
        #expect(record.signalInfo.map(\.format) == expected.formats)
        #expect(record.signalInfo.map(\.fileName) == expected.files)
        #expect(record.comments == expected.comments)
        let values = record.signals.scalars
        let n = record.sampleCount
        for c in 0..<channels {
            let sum = record.digital[c * n..<(c + 1) * n].reduce(0) { $0 + Int($1) }
            #expect(sum == expected.digitalSums[c], "channel \(c) digital sum")
            var physical = 0.0
            for i in c * n..<(c + 1) * n where !values[i].isNaN { physical += Double(values[i]) }
            #expect(abs(physical - expected.physicalSums[c]) <= 1e-3 * max(1, abs(expected.physicalSums[c])))
            let edge = expected.first[c].count
            for k in 0..<edge {
                for (index, reference) in [(k, expected.first[c][k]), (n - edge + k, expected.last[c][k])] {
                    let got = values[c * n + index]
                    if let reference {
                        #expect(abs(Double(got) - reference) <= 1e-6, "channel \(c) sample \(index)")
                    } else {
                        #expect(got.isNaN)
                    }
                }
            }
        }
    }

    @Test func decodesThirtyMinutesQuickly() throws {
        // 2 × 650,000 samples of format 212; tight loops keep this well under a second even unoptimized.
        let start = ContinuousClock.now
        let record = try WFDBRecord(contentsOf: ecgDirectory + "/100")
        let elapsed = ContinuousClock.now - start
        print("WFDB record 100 read in \(elapsed)")
        #expect(record.sampleCount == 650_000)
        #expect(elapsed < .seconds(3))
    }

    @Test func headerCopyWithCommentsCRLFAndBlankLines() throws {
        let header = try WFDBHeader(text: "# lead\r\n100 2 360/1000(5) 650000 10:00:00 01/01/2000\r\n\r\na.dat 212x1:0+6 200(1000)/uV 11 1024 995 -22131 0 MLII lead\r\n# mid\r\nb.dat 16 0 16\r\n# end\r\n", source: "t.hea")
        #expect(header.counterFrequency == 1000 && header.baseCounter == 5)
        #expect(header.baseTime == "10:00:00" && header.baseDate == "01/01/2000")
        #expect(header.signals[0].byteOffset == 6 && header.signals[0].baseline == 1000 && header.signals[0].units == "uV")
        #expect(header.signals[0].description == "MLII lead")
        #expect(header.signals[1].gain == 200 && header.signals[1].baseline == 0 && header.signals[1].units == "mV")
        #expect(header.comments == ["lead", "mid", "end"])
    }

    @Test func annotationsOfRecord100() throws {
        let expected = WFDBCases.shared.annotations[0]
        let file = try WFDBAnnotations(contentsOf: ecgDirectory + "/100.atr")
        #expect(file.annotations.count == expected.count)
        #expect(file.countsBySymbol == expected.counts)
        #expect(file.beats.count == 2273)
        #expect(file.annotations.last?.sample == expected.lastSample)
        for (got, want) in zip(file.annotations, expected.first) {
            #expect(got.sample == want.sample && got.symbol == want.symbol && got.subtype == want.subtype)
            #expect(got.channel == want.channel && got.num == want.num && got.aux == want.aux)
        }
    }

    @Test func annotationModifiers() throws {
        // N at 10, SKIP +1000, V at 1010+5 with SUB 3, CHN 1, NUM 7, AUX "(AB", end.
        func word(_ code: Int, _ delta: Int) -> [UInt8] { let w = code << 10 | delta; return [UInt8(w & 255), UInt8(w >> 8)] }
        var bytes = word(1, 10) + word(59, 0) + [0, 0, 0xE8, 0x03] + word(5, 5)
        bytes += word(61, 3) + word(62, 1) + word(60, 7) + word(63, 3) + Array("(AB".utf8) + [0] + [0, 0]
        let file = try WFDBAnnotations(bytes: bytes, source: "mem")
        #expect(file.annotations.map(\.sample) == [10, 1015])
        #expect(file.annotations[1].symbol == "V" && file.annotations[1].subtype == 3)
        #expect(file.annotations[1].channel == 1 && file.annotations[1].num == 7 && file.annotations[1].aux == "(AB")
    }
}

@Suite struct WFDBMalformed {
    let folder: String = {
        let path = NSTemporaryDirectory() + "galen-wfdb-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = folder + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    @Test func truncatedSignalFile() throws {
        let dat = try Array(Data(contentsOf: URL(fileURLWithPath: ecgDirectory + "/100.dat")).prefix(1000))
        _ = write("100.dat", dat)
        let hea = write("100.hea", Array(try Data(contentsOf: URL(fileURLWithPath: ecgDirectory + "/100.hea"))))
        let error = try #require(throws: DataFormatError.self) { try WFDBRecord(header: hea) }
        #expect(error.source.hasSuffix("100.dat") && error.message.contains("truncated"))
    }

    @Test(arguments: [
        ("r 3 360 10\nr.dat 16 200 16 0 0 0 0 a\n", "line 1"),
        ("r x 360 10\n", "line 1"),
        ("# c\nr 1 360 10\nr.dat 999 200 16 0 0 0 0 a\n", "999"),
        ("r 1 360 10\nr.dat 16 abc 16\n", "line 2"),
        ("r/2 2 360 10\n", "multi-segment"),
        ("", "no record line"),
        ("r 1 / 0\nr.dat 16\n", "line 1"),
        ("r 1 360 10\nr.dat 16+999\n", "truncated"),
    ])
    func badHeaders(_ text: String, _ needle: String) throws {
        _ = write("r.dat", [UInt8](repeating: 0, count: 20))
        let hea = write("r.hea", Array(text.utf8))
        let error = try #require(throws: DataFormatError.self) { try WFDBRecord(header: hea) }
        #expect(error.source.hasSuffix(".hea") || error.source.hasSuffix(".dat"))
        #expect(error.description.contains(needle), "\(error)")
    }

    @Test func truncatedAndGarbageAnnotations() throws {
        let atr = try Array(Data(contentsOf: URL(fileURLWithPath: ecgDirectory + "/100.atr")))
        for (name, bytes) in [("cut.atr", Array(atr.prefix(101))), ("short.atr", Array(atr.prefix(100))),
                              ("garbage.atr", [0xFF, 0xFF, 0x12, 0x34, 0x56])] {
            let path = write(name, bytes)
            let error = try #require(throws: DataFormatError.self) { try WFDBAnnotations(contentsOf: path) }
            #expect(error.source == path)
        }
        // Random bytes must never crash (an error or a parse are both fine).
        var state: UInt64 = 7
        for _ in 0..<200 {
            let bytes = (0..<64).map { _ -> UInt8 in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return UInt8(truncatingIfNeeded: state >> 33)
            }
            _ = try? WFDBAnnotations(bytes: bytes, source: "random")
            _ = try? WFDBHeader(text: String(decoding: bytes, as: UTF8.self), source: "random")
        }
    }
}
