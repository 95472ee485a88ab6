import Foundation
import Galen
@testable import GalenData
import Testing

// The malformed-input corpus of issue 4 for the binary formats other than DICOM (whose own suite
// does the same) and NPZ (MalformedInputTests flips every byte): for each bundled or fixture file,
// truncated copies at a stride and seeded random bit flips. Each copy must parse or throw a
// DataFormatError naming the source; a trap would end the test process.

private struct Corpus: CustomTestStringConvertible, Sendable {
    let name: String
    let path: String
    let parse: @Sendable ([UInt8], String) throws -> Void
    var testDescription: String { name }
}

private let corpora: [Corpus] = [
    Corpus(name: "PNG (BBBC039 mask)",
           path: repositoryRoot.appendingPathComponent("Data/segmentation-bbbc039/masks/IXMtest_A02_s1_w1051DAA7C-7042-435F-99F0-1E847D9B42CB.png").path,
           parse: { _ = try PNG.decode($0, source: $1) }),
    Corpus(name: "TIFF (deflate)", path: fixturePath("images/tif_u16_le_deflate.tif"), parse: { _ = try TIFF.decode($0, source: $1) }),
    Corpus(name: "TIFF (tiles)", path: fixturePath("images/tif_u8_be_tiles_rgb.tif"), parse: { _ = try TIFF.decode($0, source: $1) }),
    Corpus(name: "TIFF (PackBits)", path: fixturePath("images/tif_u8_le_packbits.tif"), parse: { _ = try TIFF.decode($0, source: $1) }),
    Corpus(name: "NIfTI-1", path: repositoryRoot.appendingPathComponent("Data/nifti/functional.nii").path,
           parse: { _ = try parseNIfTI($0, source: $1) }),
    Corpus(name: "NIfTI-2 .nii.gz", path: repositoryRoot.appendingPathComponent("Data/nifti/example_nifti2.nii.gz").path,
           parse: { _ = try parseNIfTI(inflate($0, format: .gzip, source: $1), source: $1) }),
    Corpus(name: "NPY", path: fixturePath("npy/f2_be_c.npy"), parse: { _ = try NPYArray(bytes: $0, source: $1) }),
    Corpus(name: "WFDB annotations", path: repositoryRoot.appendingPathComponent("Data/ecg/100.atr").path,
           parse: { _ = try WFDBAnnotations(bytes: $0, source: $1) }),
    Corpus(name: "WFDB header", path: repositoryRoot.appendingPathComponent("Data/ecg/s0010_re.hea").path,
           parse: { _ = try WFDBHeader(text: String(decoding: $0, as: UTF8.self), source: $1) }),
]

@Suite struct MalformedCorpus {
    @Test(arguments: corpora) fileprivate func truncatedAndBitFlippedCopiesNeverCrash(_ corpus: Corpus) throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: corpus.path)))
        try corpus.parse(original, corpus.path)  // the intact file reads
        var thrown = 0, copies = 0
        func attempt(_ bytes: [UInt8], _ label: String) {
            copies += 1
            do { try corpus.parse(bytes, label) } catch let error as DataFormatError {
                thrown += 1
                #expect(error.source == label, "error names \(error.source), not \(label)")
            } catch {
                Issue.record("\(label): not a DataFormatError: \(error)")
            }
        }
        let stride = max(1, original.count / 400)
        for n in Swift.stride(from: 0, to: original.count, by: stride) { attempt(Array(original.prefix(n)), "\(corpus.name) cut at \(n)") }
        // Flips concentrated in the first 4 KiB (headers, tags, chunk tables), where a wrong value
        // steers the parser, plus some anywhere.
        let generator = Generator(seed: 11)
        for k in 0..<300 {
            var copy = original
            let span = k % 3 == 0 ? copy.count : min(copy.count, 4096)
            for _ in 0..<(1 + k % 4) {
                let i = generator.nextInt(below: span)
                copy[i] ^= UInt8(1 << generator.nextInt(below: 8))
            }
            attempt(copy, "\(corpus.name) flip \(k)")
        }
        // Truncation always loses data these formats need (except a header's trailing comments),
        // so most copies must have been refused.
        #expect(thrown > copies / 4, "only \(thrown) of \(copies) damaged copies were refused")
    }
}
