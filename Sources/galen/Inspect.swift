import ArgumentParser
import GalenData

/// `galen inspect FILE`: what a medical data file holds, from its header.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarize a data file: format, dimensions, data type, spacing, key header fields.",
        discussion: "Formats: NPY, NPZ, PNG, TIFF, NIfTI (.nii, .nii.gz), WFDB (.hea, .atr), CSV; found by content, then extension.")

    @Argument(help: "The file to inspect.")
    var file: String

    @Flag(help: "Print one JSON object (sorted keys) instead of aligned lines.")
    var json = false

    func run() throws {
        try reportingErrors {
            let summary = try inspectFile(atPath: file)
            if json {
                print(summary.jsonText())
            } else {
                for line in summary.textLines() { print(line) }
            }
        }
    }
}
