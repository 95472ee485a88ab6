import Foundation
import Galen
@testable import GalenData
import Testing

// The CSV reader against Python's csv module (Scripts/fixtures/dataset_cases.py), and malformed
// CSV that must throw naming the file, the line and the counts.

/// Reads one part of dataset_cases.json (each test file decodes only the keys it needs).
func loadDatasetCases<Cases: Decodable>(_ type: Cases.Type) -> Cases {
    let url = fixturesDirectory.appendingPathComponent("dataset_cases.json")
    do {
        return try JSONDecoder().decode(Cases.self, from: Data(contentsOf: url))
    } catch {
        fatalError("cannot read \(url.path): \(error); run Scripts/fixtures/dataset_cases.py")
    }
}

/// A fresh temporary folder for files a test writes.
func makeTestFolder(_ prefix: String) -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Writes `bytes` to `folder/name` and returns the path.
func writeTestFile(_ folder: String, _ name: String, _ bytes: [UInt8]) -> String {
    let path = folder + "/" + name
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

struct CSVCases: Decodable {
    struct Tricky: Decodable, CustomTestStringConvertible {
        let name: String
        let delimiter: String
        let text: String
        let header: [String]
        let rows: [[String]]
        var testDescription: String { name }
    }
    struct File: Decodable, CustomTestStringConvertible {
        let path: String
        let skipLines: Int
        let hasHeader: Bool
        let columns: [String]
        let rowCount: Int
        let first: [String]
        let last: [String]
        let numericSums: [String: Double]
        var testDescription: String { path }
    }
    let csvTricky: [Tricky]
    let csvFiles: [File]

    static let shared = loadDatasetCases(CSVCases.self)
}

private func table(_ text: String, options: CSVOptions = CSVOptions()) throws -> CSVTable {
    try CSVTable(bytes: Array(text.utf8), source: "mem.csv", options: options)
}

/// The fields of a table, row by row, with missing values written as they were.
private func rows(of table: CSVTable) -> [[String]] {
    (0..<table.rowCount).map { r in (0..<table.columnCount).map { c in table.value(row: r, column: c) ?? "" } }
}

@Suite struct CSVReading {
    @Test(arguments: CSVCases.shared.csvTricky)
    func fieldsMatchPythonsCSVModule(_ expected: CSVCases.Tricky) throws {
        let options = CSVOptions(delimiter: Character(expected.delimiter), missingValues: [])
        let table = try table(expected.text, options: options)
        #expect(table.columnNames == expected.header)
        #expect(rows(of: table) == expected.rows)
    }

    @Test(arguments: CSVCases.shared.csvFiles)
    func bundledFiles(_ expected: CSVCases.File) throws {
        let options = CSVOptions(skipLines: expected.skipLines, hasHeader: expected.hasHeader)
        let table = try CSVTable(contentsOf: repositoryRoot.appendingPathComponent(expected.path).path, options: options)
        #expect(table.columnNames == expected.columns)
        #expect(table.rowCount == expected.rowCount)
        #expect((0..<table.columnCount).map { table.value(row: 0, column: $0) } == expected.first)
        #expect((0..<table.columnCount).map { table.value(row: table.rowCount - 1, column: $0) } == expected.last)
        for name in table.columnNames {
            if let sum = expected.numericSums[name] {
                let values = try table.doubles(name)
                let got = values.filter { !$0.isNaN }.reduce(0, +)
                #expect(abs(got - sum) <= 1e-9 * max(1, abs(sum)), "column \(name)")
            } else {
                #expect(try table.type(of: name) == .string, "column \(name)")
            }
        }
    }

    @Test func inferredTypesOfESOL() throws {
        let table = try CSVTable(contentsOf: repositoryRoot.appendingPathComponent("Data/molecules/delaney-processed.csv").path)
        #expect(table.columnTypes == [.string, .float, .integer, .float, .integer, .integer, .integer, .float, .float, .string])
        #expect(try table.column("Compound ID").first == "Amigdalin")
        // The first SMILES ends with a space in the file; fields are kept as written.
        #expect(try table.column("smiles").first == "OCC3OC(OCC2OC(OC(C#N)c1ccccc1)C(O)C(O)C2O)C(O)C(O)C3O ")
        #expect(table.line(ofRow: 0) == 2 && table.line(ofRow: 1127) == 1129)
    }

    @Test func typesMissingValuesAndBooleans() throws {
        let t = try table("i,f,b,s,e,mixed\n1,2.5,true,x,,1\n-3,NaN,False,?,NA,true\n+4,1e3,TRUE,y,,2\n")
        #expect(t.columnTypes == [.integer, .float, .boolean, .string, .float, .string])
        #expect(try t.column("s") == ["x", nil, "y"])
        #expect(try t.column("f") == ["2.5", nil, "1e3"])
        #expect(try t.doubles("i") == [1, -3, 4])
        #expect(try t.doubles("b") == [1, 0, 1])
        #expect(try t.doubles("e").allSatisfy(\.isNaN))
        let f = try t.doubles("f")
        #expect(f[0] == 2.5 && f[1].isNaN && f[2] == 1000)
        // Custom markers: only "-" is missing, so "NA" and "" are values.
        let custom = try table("a,b\n-,NA\n2,\n", options: CSVOptions(missingValues: ["-"]))
        #expect(try custom.column("a") == [nil, "2"])
        #expect(try custom.column("b") == ["NA", ""])
        #expect(custom.columnTypes == [.integer, .string])
        // Hex floats and identifiers are text, not numbers; spaces around numbers are allowed.
        let text = try table("h,n\n0x1p3,  7 \n1e,8\n")
        #expect(text.columnTypes == [.string, .integer])
        #expect(try text.doubles("n") == [7, 8])
    }

    @Test func headerlessWithNamesAndSkippedLines() throws {
        let t = try table("# exported 2024\n5,a\n6,b\n", options: CSVOptions(skipLines: 1, hasHeader: false))
        #expect(t.columnNames == ["0", "1"] && t.rowCount == 2 && t.line(ofRow: 0) == 2)
        let named = try table("5,a\n6,b\n", options: CSVOptions(hasHeader: false, columnNames: ["n", "s"]))
        #expect(try named.column("s") == ["a", "b"])
        let renamed = try table("x,y\n5,a\n", options: CSVOptions(columnNames: ["n", "s"]))
        #expect(renamed.columnNames == ["n", "s"] && renamed.rowCount == 1)
        let headerOnly = try table("x,y\r\n")
        #expect(headerOnly.rowCount == 0 && headerOnly.columnTypes == [.float, .float])
    }

    @Test func tabSeparatedAndGzipByName() throws {
        let folder = makeTestFolder("galen-csv")
        let text = "id\tname\n1\ta,b\n2\t\"c\td\"\n"
        let tsv = writeTestFile(folder, "t.tsv", Array(text.utf8))
        let fromTSV = try CSVTable(contentsOf: tsv)
        #expect(try fromTSV.column("name") == ["a,b", "c\td"])
        let gz = writeTestFile(folder, "t.tsv.gz", deflate(Array(text.utf8), format: .gzip))
        let fromGzip = try CSVTable(contentsOf: gz)
        #expect(rows(of: fromGzip) == rows(of: fromTSV))
        #expect(fromGzip.source == gz)

        let esol = try [UInt8](Data(contentsOf: repositoryRoot.appendingPathComponent("Data/molecules/delaney-processed.csv")))
        let csvGz = writeTestFile(folder, "esol.csv.gz", deflate(esol, format: .gzip))
        let compressed = try CSVTable(contentsOf: csvGz)
        #expect(compressed.rowCount == 1128)
        #expect(try compressed.doubles("Molecular Weight") == CSVTable(bytes: esol, source: "esol").doubles("Molecular Weight"))
        // A cut gzip stream is an error naming the file.
        let cut = writeTestFile(folder, "cut.csv.gz", Array(deflate(esol, format: .gzip).prefix(500)))
        let error = try #require(throws: DataFormatError.self) { try CSVTable(contentsOf: cut) }
        #expect(error.source == cut)
    }
}

@Suite struct CSVMalformed {
    @Test func raggedRowNamesLineAndCounts() throws {
        let error = try #require(throws: DataFormatError.self) { try table("a,b\n1,2\n3,4,5\n6,7\n") }
        #expect(error.source == "mem.csv")
        #expect(error.message.contains("line 3 has 3 fields, but the header has 2"), "\(error)")
        let short = try #require(throws: DataFormatError.self) { try table("a,b,c\r\n1,2,3\r\n\"x\ny\",2\r\n") }
        #expect(short.message.contains("line 3 has 2 fields, but the header has 3"), "\(short)")
        let headerless = try #require(throws: DataFormatError.self) { try table("1,2\n3\n", options: CSVOptions(hasHeader: false)) }
        #expect(headerless.message.contains("line 2 has 1 fields, but the table has 2"), "\(headerless)")
    }

    @Test func unterminatedQuoteNamesWhereItOpened() throws {
        let error = try #require(throws: DataFormatError.self) { try table("a,b\n1,2\n3,\"four\n5,6\n") }
        #expect(error.message.contains("line 3, field 2: unterminated quote"), "\(error)")
        let text = try #require(throws: DataFormatError.self) { try table("a,b\n\"x\"y,2\n") }
        #expect(text.message.contains("line 2, field 1: text after the closing quote"), "\(text)")
    }

    @Test func otherFileErrors() throws {
        let cases: [(String, CSVOptions, String)] = [
            ("", CSVOptions(), "no header line"),
            ("\n\n", CSVOptions(), "no header line"),
            ("a\n", CSVOptions(skipLines: 3), "fewer than the 3 lines to skip"),
            ("a,b,a\n1,2,3\n", CSVOptions(), "'a' appears twice (columns 1 and 3)"),
            ("a,b\n1,2\n", CSVOptions(columnNames: ["x"]), "the header has 2 fields but 1 column names were given"),
        ]
        for (text, options, needle) in cases {
            let error = try #require(throws: DataFormatError.self) { try table(text, options: options) }
            #expect(error.source == "mem.csv" && error.message.contains(needle), "\(error)")
        }
        let t = try table("a,b\n1,x\n2,3\n")
        let missing = try #require(throws: DataFormatError.self) { try t.column("c") }
        #expect(missing.message.contains("no column named 'c' (columns: 'a', 'b')"), "\(missing)")
        let notNumber = try #require(throws: DataFormatError.self) { try t.doubles("b") }
        #expect(notNumber.message.contains("line 2, column 'b': 'x' is not a number"), "\(notNumber)")
        let file = try #require(throws: DataFormatError.self) { try CSVTable(contentsOf: "/nonexistent/x.csv") }
        #expect(file.source == "/nonexistent/x.csv")
    }

    @Test func truncatedCopiesNeverCrash() throws {
        // Every prefix of a file with quoted multi-line fields, and the first 4 KB of ESOL byte by
        // byte: each reads or throws a DataFormatError naming the source.
        let tricky = CSVCases.shared.csvTricky.map { Array($0.text.utf8) }
        let esol = try [UInt8](Data(contentsOf: repositoryRoot.appendingPathComponent("Data/molecules/delaney-processed.csv")))
        var outcomes = (read: 0, thrown: 0)
        for bytes in tricky + [Array(esol.prefix(4096))] {
            for cut in 0...bytes.count {
                do {
                    let t = try CSVTable(bytes: Array(bytes.prefix(cut)), source: "cut.csv")
                    for c in 0..<t.columnCount { _ = try? t.doubles(t.columnNames[c]) }
                    outcomes.read += 1
                } catch let error as DataFormatError {
                    #expect(error.source == "cut.csv")
                    outcomes.thrown += 1
                }
            }
        }
        #expect(outcomes.read > 0 && outcomes.thrown > 0)
        // Cut inside the quoted "multi\nline" field: the quote never closes.
        let quoted = CSVCases.shared.csvTricky[0].text
        let inside = String(quoted.prefix(upTo: quoted.range(of: "line\"")!.lowerBound))
        let error = try #require(throws: DataFormatError.self) { try table(inside) }
        #expect(error.message.contains("line 3, field 1: unterminated quote"), "\(error)")
        // Invalid UTF-8 becomes U+FFFD rather than an error.
        let latin1 = try CSVTable(bytes: [0x61, 0x0A, 0xE9, 0x0A], source: "latin1.csv")
        #expect(try latin1.column("a") == ["\u{FFFD}"])
    }
}
