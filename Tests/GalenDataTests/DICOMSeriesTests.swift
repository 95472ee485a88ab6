import Foundation
import Galen
@testable import GalenData
import Testing

// Series → volume, on series made from copies of the bundled CT_small.dcm with their slice
// position, instance number, first pixel and (for the error cases) size or series UID rewritten.

/// `bytes` (explicit VR little endian) with the value of top-level `tag` replaced; the 16-bit
/// length of short-form VRs is rewritten, the long form's 32-bit length for OB/OW.
private func replacingValue(of tag: DICOMTag, in bytes: [UInt8], with value: [UInt8]) throws -> [UInt8] {
    let file = try DICOMFile.parse(bytes, source: "CT_small.dcm")
    let element = try #require(file.dataSet[tag])
    var padded = value
    if padded.count % 2 == 1 { padded.append(element.vr == "UI" ? 0 : 0x20) }
    let long = ["OB", "OW"].contains(element.vr)
    let lengthStart = element.valueRange.lowerBound - (long ? 4 : 2)
    var length = [UInt8(padded.count & 0xFF), UInt8((padded.count >> 8) & 0xFF)]
    if long { length += [UInt8((padded.count >> 16) & 0xFF), UInt8(padded.count >> 24)] }
    return Array(bytes[..<lengthStart]) + length + padded + Array(bytes[element.valueRange.upperBound...])
}

private func text(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct DICOMSeriesTests {
    let original = Array(try! Data(contentsOf: URL(fileURLWithPath: dicomDataPath("CT_small.dcm"))))

    /// Slice k of a 5-slice series: 2.5 mm apart along the slice normal, instance numbers in the
    /// opposite order, first stored pixel 100·k.
    func slice(_ k: Int, position: Bool = true) throws -> [UInt8] {
        let image = try DICOMImage.parse(original, source: "CT_small.dcm")
        let origin = image.metadata.imagePositionPatient!
        let o = image.metadata.imageOrientationPatient!
        let normal = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]]
        let p = (0..<3).map { origin[$0] + 2.5 * Double(k) * normal[$0] }
        var bytes = original
        let pixels = try #require(DICOMFile.parse(bytes, source: "CT_small.dcm").dataSet[DICOMTags.pixelData]).valueRange
        bytes[pixels.lowerBound] = UInt8((100 * k) & 0xFF)
        bytes[pixels.lowerBound + 1] = UInt8((100 * k) >> 8)
        bytes = try replacingValue(of: DICOMTags.imagePositionPatient, in: bytes,
                                   with: position ? text(p.map { String(format: "%.6f", $0) }.joined(separator: "\\")) : [])
        return try replacingValue(of: DICOMTags.instanceNumber, in: bytes, with: text(String(5 - k)))
    }

    func writeSeries(_ files: [(String, [UInt8])]) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("galen-dicom-series-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name)) }
        return directory
    }

    @Test func ordersSlicesAlongTheNormal() throws {
        // File names in neither spatial nor instance order.
        let names = ["c.dcm", "a.dcm", "e.dcm", "b.dcm", "d.dcm"]
        var files = try (0..<5).map { (names[$0], try slice($0)) }
        files.append(("README.txt", text("not DICOM")))
        let directory = try writeSeries(files)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let volume = try readDICOMSeries(directory: directory)
        let reference = try readDICOM(atPath: dicomDataPath("CT_small.dcm"))
        #expect(volume.voxels.shape == [5, 128, 128])
        #expect(volume.orderedByPosition)
        #expect(volume.paths.map { ($0 as NSString).lastPathComponent } == names)
        let values = volume.voxels.scalars
        for k in 0..<5 {
            #expect(values[k * 128 * 128] == Float(100 * k) - 1024, "slice \(k)")  // intercept -1024
            #expect(values[k * 128 * 128 + 1] == reference.pixels.scalars[1])
        }
        #expect(abs(volume.spacing[0] - 2.5) < 1e-5)
        #expect(Array(volume.spacing[1...]) == reference.metadata.pixelSpacing!)
        for (a, b) in zip(volume.origin!, reference.metadata.imagePositionPatient!) { #expect(abs(a - b) < 1e-5) }
        #expect(volume.orientation! == reference.metadata.imageOrientationPatient!)
    }

    @Test func fallsBackToInstanceNumber() throws {
        let paths = try (0..<3).map { ("s\($0).dcm", try slice($0, position: false)) }
        let directory = try writeSeries(paths)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let volume = try readDICOMSeries(paths: paths.map { directory + "/" + $0.0 })
        #expect(!volume.orderedByPosition && volume.origin == nil)
        // Instance numbers 5 − k, ascending: slice 2 first.
        let firstPixels: [Float] = (0..<3).map { volume.voxels.scalars[$0 * 128 * 128] }
        #expect(firstPixels == [-824, -924, -1024])
        #expect(volume.spacing[0] == reference().metadata.sliceThickness!)
    }

    func reference() -> DICOMImage { try! DICOMImage.parse(original, source: "CT_small.dcm") }

    @Test func refusesMixedSizesAndSeries() throws {
        let smaller = try replacingValue(of: DICOMTags.rows, in: slice(1), with: [64, 0])
        let otherSeries = try replacingValue(of: DICOMTags.seriesInstanceUID, in: slice(1), with: text("1.2.3.4.5"))
        for (label, bad, message) in [("size", smaller, "64×128"), ("series", otherSeries, "Series Instance UID")] {
            let directory = try writeSeries([("a.dcm", try slice(0)), ("b.dcm", bad)])
            defer { try? FileManager.default.removeItem(atPath: directory) }
            do {
                _ = try readDICOMSeries(paths: [directory + "/a.dcm", directory + "/b.dcm"])
                Issue.record("\(label): no error")
            } catch let error as DataFormatError {
                #expect(error.source == directory + "/b.dcm" && error.message.contains(message), "\(error)")
            }
        }
        // Two series in one folder: asks which one.
        let directory = try writeSeries([("a.dcm", try slice(0)), ("b.dcm", otherSeries)])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: DataFormatError.self) { try readDICOMSeries(directory: directory) }
        #expect(try readDICOMSeries(directory: directory, seriesInstanceUID: "1.2.3.4.5").voxels.shape == [1, 128, 128])
    }
}
