import Foundation
import Galen
@testable import GalenData
import Testing

@Suite struct InspectDICOM {
    private func path(_ name: String) -> String { repositoryRoot.appendingPathComponent("Data/dicom/\(name)").path }

    @Test func summarizesHeaderAndPixels() throws {
        // CT_small's preamble is itself a TIFF header; "DICM" at byte 128 must win.
        let ct = try inspectFile(atPath: path("CT_small.dcm"))
        #expect(ct.format == "DICOM")
        #expect(ct["transfer_syntax"]?.text == "1.2.840.10008.1.2.1")
        #expect(ct["modality"]?.text == "CT")
        #expect(ct["rows"]?.integer == 128 && ct["columns"]?.integer == 128)
        #expect(ct["rescale_intercept"]?.number == -1024)
        #expect(ct["pixel_shape"] == .integers([1, 1, 128, 128]))
        #expect(ct["value_range"] == .numbers([-896, 1167]))
        // No patient data in the summary.
        #expect(!ct.textLines().joined().contains("CompressedSamples"))
    }

    @Test func aSyntaxGalenDoesNotDecodeStillGetsItsHeaderSummarized() throws {
        let jpeg12 = try inspectFile(atPath: path("JPGExtended.dcm"))
        #expect(jpeg12["transfer_syntax"]?.text == "1.2.840.10008.1.2.4.51")
        #expect(jpeg12["pixel_data"]?.text?.contains("JPEG Extended") == true)
        #expect(jpeg12["rows"]?.integer == 1024)
    }

    @Test(arguments: ["MR_truncated.dcm", "rtplan_truncated.dcm"])
    func truncatedFilesAreErrorsNamingTheFile(_ name: String) {
        do {
            _ = try inspectFile(atPath: path(name))
            Issue.record("\(name) inspected without error")
        } catch let error as DataFormatError {
            #expect(error.source.hasSuffix(name))
        } catch {
            Issue.record("\(error)")
        }
    }
}
