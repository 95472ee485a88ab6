import Foundation
import Galen
import GalenData
import Testing

/// `inspectFile(atPath:)` on the bundled data and the fixtures, checked against what the formats'
/// own tools (nibabel, NumPy, wfdb) recorded, and on damaged files.
@Suite("Inspect")
struct InspectTests {
    func dataPath(_ file: String) -> String { repositoryRoot.appendingPathComponent("Data/\(file)").path }

    func integers(_ value: SummaryValue?) -> [Int]? { value?.list?.compactMap(\.integer) }
    func numbers(_ value: SummaryValue?) -> [Double]? { value?.list?.compactMap(\.number) }

    /// The NIfTI expectations nibabel recorded (Scripts/fixtures), as plain JSON objects.
    static func niftiCases() -> [[String: Any]] {
        let url = fixturesDirectory.appendingPathComponent("nifti_cases.json")
        let object = try? JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        return object?["files"] as? [[String: Any]] ?? []
    }

    @Test func niftiHeadersMatchNibabel() throws {
        let cases = Self.niftiCases()
        #expect(cases.count == 5)
        for expected in cases {
            let file = try #require(expected["file"] as? String)
            let summary = try inspectFile(atPath: dataPath("nifti/\(file)"))
            let version = try #require(expected["version"] as? Int)
            #expect(summary.format == "NIfTI-\(version)", "\(file)")
            #expect(integers(summary["dims"]) == expected["shape"] as? [Int], "\(file)")
            #expect(summary["datatype_code"]?.integer == expected["datatype"] as? Int, "\(file)")
            #expect(summary["qform_code"]?.integer == expected["qform_code"] as? Int, "\(file)")
            #expect(summary["sform_code"]?.integer == expected["sform_code"] as? Int, "\(file)")
            #expect(summary["byte_order"]?.text == ((expected["big_endian"] as? Bool ?? false) ? "big-endian" : "little-endian"))
            #expect(summary["gzip"]?.flag == file.hasSuffix(".gz"), "\(file)")
            #expect(summary["descrip"]?.text == expected["description"] as? String, "\(file)")
            expectClose(numbers(summary["pixdim"]), expected["pixdim"] as? [Double], "\(file) pixdim")
            expectClose(summary["scl_slope"]?.number.map { [$0] }, (expected["scl_slope"] as? Double).map { [$0] }, "\(file) scl_slope")
            expectClose(summary["scl_inter"]?.number.map { [$0] }, (expected["scl_inter"] as? Double).map { [$0] }, "\(file) scl_inter")
            let affine = summary["affine"]?.list?.compactMap { numbers($0) }
            let expectedAffine = expected["best_affine"] as? [[Double]]
            expectClose(affine?.flatMap { $0 }, expectedAffine?.flatMap { $0 }, "\(file) affine")
            expectClose(numbers(summary["value_range"]), [expected["min"], expected["max"]].compactMap { $0 as? Double }, "\(file) range")
        }
    }

    @Test func anatomicalNIfTIKeyValues() throws {
        let summary = try inspectFile(atPath: dataPath("nifti/anatomical.nii"))
        #expect(summary.format == "NIfTI-1")
        #expect(integers(summary["dims"]) == [33, 41, 25])
        #expect(summary["datatype"]?.text == "int16")
        #expect(numbers(summary["spacing"]) == [2, 2, 2])
        #expect(summary["units"]?["spatial"]?.text == "mm")
        #expect(summary["qform"]?.text == "aligned anatomical")
        #expect(summary["affine_source"]?.text == "sform")
        #expect(summary["bytes"]?.integer == 68002)
    }

    @Test func wfdbHeaderOfMITBIH100() throws {
        let summary = try inspectFile(atPath: dataPath("ecg/100.hea"))
        #expect(summary.format == "WFDB header")
        #expect(summary["record"]?.text == "100")
        #expect(summary["fs"]?.number == 360)
        #expect(summary["length"]?.integer == 650000)
        let signals = try #require(summary["signals"]?.list)
        #expect(signals.compactMap { $0["name"]?.text } == ["MLII", "V5"])
        #expect(signals.allSatisfy { $0["fmt"]?.integer == 212 && $0["gain"]?.number == 200 && $0["units"]?.text == "mV" })
        #expect(signals.compactMap { $0["baseline"]?.integer } == [1024, 1024])
        #expect(summary["signal_files"]?.list?.first?["present"]?.flag == true)
    }

    @Test func wfdbHeaderOfPTBWithTwoSignalFiles() throws {
        let summary = try inspectFile(atPath: dataPath("ecg/s0010_re.hea"))
        #expect(summary["signal_count"]?.integer == 15)
        #expect(summary["fs"]?.number == 1000)
        #expect(summary["length"]?.integer == 38400)
        #expect(summary["signal_files"]?.list?.compactMap { $0["name"]?.text } == ["s0010_re.dat", "s0010_re.xyz"])
        #expect(summary["comments"]?.list?.contains(.text("Reason for admission: Myocardial infarction")) == true)
    }

    @Test func wfdbAnnotationCountsPerCode() throws {
        let summary = try inspectFile(atPath: dataPath("ecg/100.atr"))
        #expect(summary.format == "WFDB annotations")
        #expect(summary["annotations"]?.integer == 2274)
        #expect(summary["beats"]?.integer == 2273)
        let counts = try #require(summary["counts"])
        #expect(counts["N"]?.integer == 2239)
        #expect(counts["A"]?.integer == 33)
        #expect(counts["V"]?.integer == 1)
        #expect(counts["+"]?.integer == 1)
        #expect(summary["fs"]?.number == 360)
    }

    @Test func medMNISTArchiveMembersAndCatalogMatch() throws {
        let summary = try inspectFile(atPath: dataPath("medmnist/breastmnist.npz"))
        #expect(summary.format == "NPZ")
        #expect(summary["arrays"]?.integer == 6)
        let members = try #require(summary["members"]?.list)
        let trainImages = try #require(members.first { $0["name"]?.text == "train_images" })
        #expect(integers(trainImages["shape"]) == [546, 28, 28])
        #expect(trainImages["dtype"]?.text == "|u1")
        #expect(integers(members.first { $0["name"]?.text == "test_labels" }?["shape"]) == [156, 1])
        #expect(summary["md5"]?.text == MedMNISTInfo.named("breastmnist")?.md5)
        #expect(summary["medmnist"]?["dataset"]?.text == "BreastMNIST")
        #expect(summary["medmnist"]?["official_md5"]?.flag == true)
    }

    @Test func npyFixturesMatchNumPy() throws {
        for expected in DataCases.shared.npy {
            let summary = try inspectFile(atPath: fixturePath(expected.file))
            #expect(summary["dtype"]?.text == expected.descr, "\(expected.file)")
            #expect(integers(summary["shape"]) == expected.shape, "\(expected.file)")
            #expect(summary["fortran_order"]?.flag == expected.fortranOrder, "\(expected.file)")
            #expect(summary["elements"]?.integer == expected.shape.reduce(1, *), "\(expected.file)")
        }
        let version2 = try inspectFile(atPath: fixturePath("npy/f4_v2.npy"))
        #expect(version2.format == "NPY 2.0" && version2["version"]?.text == "2.0")
        #expect(try inspectFile(atPath: fixturePath("npy/f4_v3.npy")).format == "NPY 3.0")
    }

    @Test func pngMaskAndTIFFImageOfBBBC039() throws {
        let stem = "IXMtest_A02_s1_w1051DAA7C-7042-435F-99F0-1E847D9B42CB"
        let mask = try inspectFile(atPath: dataPath("segmentation-bbbc039/masks/\(stem).png"))
        #expect(mask.format == "PNG")
        #expect(mask["width"]?.integer == 696 && mask["height"]?.integer == 520)
        #expect(mask["channels"]?.integer == 4 && mask["color_type"]?.text == "RGBA" && mask["bit_depth"]?.integer == 8)
        let image = try inspectFile(atPath: dataPath("segmentation-bbbc039/images/\(stem).tif"))
        #expect(image.format == "TIFF")
        #expect(image["width"]?.integer == 696 && image["height"]?.integer == 520)
        #expect(image["channels"]?.integer == 1 && image["bit_depth"]?.integer == 16)
        #expect(image["sample_format"]?.text == "unsigned integer" && image["byte_order"]?.text == "little-endian")
    }

    @Test func pngFixtureOfSixteenBitGray() throws {
        let summary = try inspectFile(atPath: fixturePath("images/png_c0_d16_f0.png"))
        #expect(summary["color_type"]?.text == "gray")
        #expect(summary["bit_depth"]?.integer == 16)
        #expect(summary["channels"]?.integer == 1)
    }

    @Test func csvTables() throws {
        let sklearn = try inspectFile(atPath: dataPath("tabular/breast_cancer.csv"))
        #expect(sklearn.format == "CSV")
        #expect(sklearn["rows"]?.integer == 569)
        #expect(sklearn["columns"]?.integer == 31)
        #expect(sklearn["skipped_lines"]?.integer == 1 && sklearn["header"]?.flag == false)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("galen-inspect-\(UUID().uuidString).csv").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "age,sex,weight\n61,F,70.5\n,M,82\n45,F,NA\n".write(toFile: path, atomically: true, encoding: .utf8)
        let small = try inspectFile(atPath: path)
        #expect(small["rows"]?.integer == 3 && small["columns"]?.integer == 3 && small["header"]?.flag == true)
        let columns = try #require(small["column_types"]?.list)
        #expect(columns.compactMap { $0["name"]?.text } == ["age", "sex", "weight"])
        #expect(columns.compactMap { $0["type"]?.text } == ["integer", "string", "float"])
        #expect(columns.compactMap { $0["missing"]?.integer } == [1, 0, 1])
    }

    @Test func jsonIsOneStableObjectWithSortedKeys() throws {
        let summary = try inspectFile(atPath: dataPath("nifti/anatomical.nii"))
        let text = summary.jsonText()
        #expect(text == summary.jsonText())
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["format"] as? String == "NIfTI-1")
        #expect(object["dims"] as? [Int] == [33, 41, 25])
        #expect((object["affine"] as? [[Double]])?.first == [-2, 0, 0, 32])
        #expect((object["units"] as? [String: Any])?["spatial"] as? String == "mm")
        // Top-level keys appear in sorted order.
        let keys = text.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.dropFirst(3).prefix { $0 != "\"" } }
        #expect(keys == keys.sorted())
        #expect(keys.count == object.count)
    }

    @Test func textLinesAreAligned() throws {
        let lines = try inspectFile(atPath: dataPath("ecg/100.hea")).textLines()
        #expect(lines.first?.hasPrefix("file:") == true)
        #expect(lines.contains("record:       100"))
        // Every value, continuation lines (one per signal) included, starts in the same column.
        let first = try #require(lines.first)
        let column = first.distance(from: first.startIndex, to: try #require(first.firstIndex(of: "/")))
        for line in lines {
            let label = line.prefix(column)
            let labelIsKeyOrBlank = label.allSatisfy { $0 == " " }
                || (label.hasSuffix(" ") && label.trimmingCharacters(in: .whitespaces).hasSuffix(":"))
            #expect(labelIsKeyOrBlank && line.count > column && line.dropFirst(column).first != " ", "\(line)")
        }
        #expect(lines.filter { $0.hasPrefix(String(repeating: " ", count: column)) }.count >= 1)
    }

    // MARK: - Damaged and unknown files

    /// Writes `bytes` to a temporary file named `name` and returns the error inspecting it gives.
    func inspectionError(_ bytes: [UInt8], name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> DataFormatError? {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("galen-inspect-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            let summary = try inspectFile(atPath: path)
            Issue.record("\(name) should not inspect, got \(summary.format)", sourceLocation: sourceLocation)
            return nil
        } catch let error as DataFormatError {
            #expect(error.description.contains(path), "error does not name the file: \(error)", sourceLocation: sourceLocation)
            return error
        }
    }

    func bytes(of path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    @Test func damagedFilesThrowNamingTheFile() throws {
        let nifti = try bytes(of: dataPath("nifti/anatomical.nii"))
        #expect(try inspectionError(Array(nifti.prefix(1000)), name: "truncated.nii")?.message.contains("bytes") == true)
        #expect(try inspectionError(Array(nifti.prefix(100)), name: "short.nii") != nil)
        let npz = try bytes(of: dataPath("medmnist/breastmnist.npz"))
        #expect(try inspectionError(Array(npz.prefix(npz.count / 2)), name: "breastmnist.npz") != nil)
        let npy = try bytes(of: fixturePath("npy/f4_le_c.npy"))
        #expect(try inspectionError(Array(npy.prefix(npy.count - 3)), name: "cut.npy")?.message.contains("too short") == true)
        let png = try bytes(of: fixturePath("images/png_c0_d16_f0.png"))
        #expect(try inspectionError(Array(png.prefix(40)), name: "cut.png") != nil)
        let tiff = try bytes(of: dataPath("segmentation-bbbc039/images/IXMtest_A02_s1_w1051DAA7C-7042-435F-99F0-1E847D9B42CB.tif"))
        #expect(try inspectionError(Array(tiff.prefix(12)), name: "cut.tif") != nil)
        #expect(try inspectionError(Array("100 2 360 abc\n".utf8), name: "bad.hea") != nil)
        #expect(try inspectionError([0xFF, 0x01, 0x02], name: "bad.atr") != nil)
        #expect(try inspectionError(Array("a,b\n1,2,3\n".utf8), name: "ragged.csv") != nil)
        #expect(try inspectionError([], name: "empty.png") != nil)
    }

    @Test func unknownFormatIsNamed() throws {
        let error = try inspectionError(Array("just some text\n".utf8), name: "notes.bin")
        #expect(error?.message.contains("unknown file format") == true)
        // A zip that is not .npz is not taken for one.
        let npz = try bytes(of: dataPath("medmnist/breastmnist.npz"))
        #expect(try inspectionError(npz, name: "archive.zip")?.message.contains("unknown file format") == true)
    }

    @Test func missingFileAndFolderAreErrors() {
        #expect(throws: DataFormatError.self) { try inspectFile(atPath: "/nonexistent/scan.nii") }
        #expect { try inspectFile(atPath: FileManager.default.temporaryDirectory.path) } throws: { error in
            "\(error)".contains("folder")
        }
    }

    @Test func formatIsFoundByContentBeforeExtension() throws {
        // A PNG named .npy is still a PNG.
        let png = try bytes(of: fixturePath("images/png_c0_d16_f0.png"))
        #expect(InspectedFormat.detect(path: "mask.npy", prefix: png) == .png)
        #expect(InspectedFormat.detect(path: "scan.nii.gz", prefix: [0x1f, 0x8b, 8]) == .nifti)
        #expect(InspectedFormat.detect(path: "x.gz", prefix: [0x1f, 0x8b, 8]) == nil)
        #expect(InspectedFormat.detect(path: "100.hea", prefix: Array("100 2 360".utf8)) == .wfdbHeader)
        #expect(InspectedFormat.detect(path: "image.dcm", prefix: []) == .dicom)
        var dicom = [UInt8](repeating: 0, count: 132)
        dicom.replaceSubrange(128..<132, with: Array("DICM".utf8))
        #expect(InspectedFormat.detect(path: "IM0001", prefix: dicom) == .dicom)
    }
}

/// Elementwise closeness of two number lists, relative to their size.
private func expectClose(
    _ actual: [Double]?, _ expected: [Double]?, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let actual, let expected, actual.count == expected.count else {
        Issue.record("\(what): \(String(describing: actual)) vs \(String(describing: expected))", sourceLocation: sourceLocation)
        return
    }
    for (a, e) in zip(actual, expected) {
        #expect(abs(a - e) <= 1e-5 * max(1, abs(e)), "\(what): \(actual) vs \(expected)", sourceLocation: sourceLocation)
    }
}
