import ArgumentParser
import Foundation
import GalenData

/// `galen datasets`: the MedMNIST catalog, and downloads.
struct Datasets: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the MedMNIST datasets and download them.",
        discussion: """
            Downloads go to $GALEN_DATA/medmnist, or ~/.galen/data/medmnist when GALEN_DATA is not set. \
            The files bundled in Galen's Data/medmnist are used when present.
            """,
        subcommands: [List.self, Download.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every MedMNIST 2D dataset and whether it is on this machine.")

        func run() throws {
            try reportingErrors {
                let files = MedMNISTFiles()
                let rows = MedMNISTInfo.catalog.map { info -> [String] in
                    let local: String
                    switch files.location(of: info) {
                    case .downloaded?: local = "downloaded"
                    case .bundled?: local = "bundled"
                    case nil: local = "-"
                    }
                    let images = info.splitSizes.train + info.splitSizes.validation + info.splitSizes.test
                    return [
                        info.flag, info.modality, info.task.rawValue, String(info.channels), String(info.classCount),
                        String(info.splitSizes.train), String(info.splitSizes.validation), String(info.splitSizes.test),
                        formatBytes(Int64(images * 28 * 28 * info.channels)), local,
                    ]
                }
                let header = ["flag", "modality", "task", "channels", "classes", "train", "val", "test", "size", "local"]
                for line in formatTable(header: header, rows: rows, rightAligned: [3, 4, 5, 6, 7, 8]) { print(line) }
                print("")
                print("size: the 28×28 images, uncompressed. Downloads go to \(files.folder) (set $GALEN_DATA to change).")
            }
        }
    }

    struct Download: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a MedMNIST dataset (28×28) and check its MD5.",
            discussion: "An interrupted download resumes where it stopped when run again.")

        @Argument(help: "The dataset's flag, e.g. pneumoniamnist (see `galen datasets list`).")
        var name: String

        @Option(help: ArgumentHelp(
            "Folder to put <name>.npz in (default: $GALEN_DATA/medmnist or ~/.galen/data/medmnist).", valueName: "dir"))
        var to: String?

        @Option(help: "Download from this URL instead of the official one (a mirror, or a test server).")
        var url: String?

        @Flag(help: "Download again even when a verified copy is already there.")
        var force = false

        func run() throws {
            try reportingErrors {
                guard let info = MedMNISTInfo.named(name) else {
                    let close = MedMNISTInfo.suggestions(for: name)
                    let hint = close.isEmpty
                        ? "the datasets are \(MedMNISTInfo.catalog.map(\.flag).joined(separator: ", "))"
                        : "did you mean \(close.joined(separator: ", "))?"
                    throw CommandFailure("unknown dataset '\(name)'; \(hint)")
                }
                let files = to.map { MedMNISTFiles(folder: $0) } ?? MedMNISTFiles()
                let display = ProgressDisplay(label: info.flag, url: url ?? info.url)
                let result: MedMNISTFiles.FetchResult
                do {
                    defer { display.finish() }
                    result = try files.fetch(info, from: url, force: force, progress: display.update)
                }
                switch result {
                case .alreadyPresent(let path):
                    print("\(info.flag): already at \(path) (MD5 \(info.md5) verified)")
                case .copiedFromBundle(let source, let path):
                    print("\(info.flag): copied the bundled \(source) to \(path) (MD5 \(info.md5) verified)")
                case .downloaded(let report):
                    let resumed = report.resumedFrom > 0 ? ", resumed at byte \(report.resumedFrom)" : ""
                    print("\(info.flag): \(formatBytes(report.bytes)) saved to \(report.path) (MD5 \(report.md5) verified\(resumed))")
                }
            }
        }
    }
}
