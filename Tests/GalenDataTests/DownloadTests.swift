import Foundation
import GalenData
import Testing

/// Downloads from a real HTTP server on 127.0.0.1 (`LoopbackHTTPServer`), into a fresh temporary
/// folder per test.
@Suite("Download")
struct DownloadTests {
    static let breast = MedMNISTInfo.named("breastmnist")!
    static let breastBytes: [UInt8] = {
        let path = repositoryRoot.appendingPathComponent("Data/medmnist/breastmnist.npz").path
        return [UInt8](FileManager.default.contents(atPath: path)!)
    }()

    /// Runs `body` with a server for `routes` and a new empty folder; stops and removes both after.
    func withServer(_ routes: [String: LoopbackHTTPServer.Route], _ body: (LoopbackHTTPServer, String) throws -> Void) throws {
        let server = try LoopbackHTTPServer(routes: routes)
        defer { server.stop() }
        try withTemporaryFolder { try body(server, $0) }
    }

    /// Runs `body` with a new empty folder, removed after.
    func withTemporaryFolder(_ body: (String) throws -> Void) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("galen-download-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path)
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    @Test func downloadsVerifiesAndReportsProgress() throws {
        try withServer(["/breastmnist.npz": .file(Self.breastBytes)]) { server, folder in
            let destination = folder + "/sub/breastmnist.npz"
            let seen = ProgressLog()

            let report = try Downloader(attempts: 1).download(
                from: server.url("/breastmnist.npz"), to: destination, md5: Self.breast.md5.uppercased(), label: "breastmnist",
                progress: seen.record)

            #expect(report.path == destination)
            #expect(report.bytes == Int64(Self.breastBytes.count))
            #expect(report.md5 == Self.breast.md5)
            #expect(report.resumedFrom == 0 && report.restarts == 0)
            #expect(FileManager.default.contents(atPath: destination) == Data(Self.breastBytes))
            #expect(!exists(destination + ".part"))
            let steps = seen.steps
            #expect(steps.last == DownloadProgress(bytes: Int64(Self.breastBytes.count), total: Int64(Self.breastBytes.count)))
            #expect(zip(steps, steps.dropFirst()).allSatisfy { $0.bytes <= $1.bytes })
            #expect(server.requests.count == 1)
            #expect(server.requests.first?.headers["range"] == nil)
        }
    }

    @Test func corruptedFileIsRejectedAndNothingIsLeft() throws {
        var corrupted = Self.breastBytes
        corrupted[corrupted.count / 2] ^= 0x01
        try withServer(["/breastmnist.npz": .file(corrupted)]) { server, folder in
            let destination = folder + "/breastmnist.npz"

            #expect {
                try Downloader(attempts: 1).download(
                    from: server.url("/breastmnist.npz"), to: destination, md5: Self.breast.md5, label: "breastmnist")
            } throws: { error in
                guard let error = error as? DownloadError, case .checksumMismatch(let expected, _) = error.reason else { return false }
                return expected == Self.breast.md5 && error.description.contains("breastmnist")
            }
            #expect(!exists(destination))
            #expect(!exists(destination + ".part"))
        }
    }

    @Test func httpErrorNamesTheStatus() throws {
        try withServer(["/breastmnist.npz": .notFound]) { server, folder in
            let url = server.url("/breastmnist.npz")

            #expect {
                try Downloader(attempts: 1).download(from: url, to: folder + "/breastmnist.npz", md5: Self.breast.md5, label: "breastmnist")
            } throws: { error in
                guard let error = error as? DownloadError else { return false }
                return error.reason == .httpStatus(404) && error.description.contains("404")
                    && error.description.contains(url.absoluteString) && error.description.contains("breastmnist")
            }
            let left = try FileManager.default.contentsOfDirectory(atPath: folder)
            #expect(left.isEmpty)
        }
    }

    @Test func droppedConnectionResumesWithARangeRequest() throws {
        let half = Self.breastBytes.count / 2
        try withServer(["/breastmnist.npz": .dropsFirstTransfer(Self.breastBytes, after: half)]) { server, folder in
            let destination = folder + "/breastmnist.npz"
            let downloader = Downloader(attempts: 1)

            #expect {
                try downloader.download(from: server.url("/breastmnist.npz"), to: destination, md5: Self.breast.md5, label: "breastmnist")
            } throws: { error in
                guard let error = error as? DownloadError, case .interrupted(_, let expected, _) = error.reason else { return false }
                return expected == Int64(Self.breastBytes.count)
            }
            #expect(!exists(destination))
            let kept = try #require(FileManager.default.contents(atPath: destination + ".part"))
            #expect(kept.count > 0 && kept.count <= half)
            #expect(kept == Data(Self.breastBytes[..<kept.count]))

            let report = try downloader.download(
                from: server.url("/breastmnist.npz"), to: destination, md5: Self.breast.md5, label: "breastmnist")
            #expect(report.resumedFrom == Int64(kept.count))
            #expect(report.md5 == Self.breast.md5)
            #expect(FileManager.default.contents(atPath: destination) == Data(Self.breastBytes))
            #expect(!exists(destination + ".part"))
            let requests = server.requests
            #expect(requests.count == 2)
            #expect(requests.first?.headers["range"] == nil)
            #expect(requests.last?.headers["range"] == "bytes=\(kept.count)-")
        }
    }

    @Test func oneCallWithSeveralAttemptsRecoversByItself() throws {
        try withServer(["/breastmnist.npz": .dropsFirstTransfer(Self.breastBytes, after: Self.breastBytes.count / 3)]) { server, folder in

            let report = try Downloader(attempts: 2).download(
                from: server.url("/breastmnist.npz"), to: folder + "/breastmnist.npz", md5: Self.breast.md5)
            #expect(report.resumedFrom > 0)
            #expect(server.requests.map { $0.headers["range"] != nil } == [false, true])
        }
    }

    @Test func serverIgnoringTheRangeRestartsFromZero() throws {
        try withServer(["/breastmnist.npz": .ignoresRange(Self.breastBytes)]) { server, folder in
            let destination = folder + "/breastmnist.npz"
            try Data(Self.breastBytes[..<1000]).write(to: URL(fileURLWithPath: destination + ".part"))

            let report = try Downloader(attempts: 1).download(from: server.url("/breastmnist.npz"), to: destination, md5: Self.breast.md5)
            #expect(report.resumedFrom == 0)
            #expect(server.requests.first?.headers["range"] == "bytes=1000-")
            #expect(FileManager.default.contents(atPath: destination) == Data(Self.breastBytes))
        }
    }

    @Test func resumeOntoAForeignPrefixFailsTheChecksumAndRestartsCleanly() throws {
        try withServer(["/breastmnist.npz": .file(Self.breastBytes)]) { server, folder in
            let destination = folder + "/breastmnist.npz"
            try Data(repeating: 0xAB, count: 4096).write(to: URL(fileURLWithPath: destination + ".part"))

            let report = try Downloader(attempts: 1).download(from: server.url("/breastmnist.npz"), to: destination, md5: Self.breast.md5)
            #expect(report.restarts == 1 && report.resumedFrom == 0)
            #expect(FileManager.default.contents(atPath: destination) == Data(Self.breastBytes))
            #expect(server.requests.map { $0.headers["range"] } == ["bytes=4096-", nil])
        }
    }

    @Test func completePartFileIsAdoptedWhenTheServerHasNothingMore() throws {
        try withServer(["/breastmnist.npz": .file(Self.breastBytes)]) { server, folder in
            let destination = folder + "/breastmnist.npz"
            try Data(Self.breastBytes).write(to: URL(fileURLWithPath: destination + ".part"))

            let report = try Downloader(attempts: 1).download(from: server.url("/breastmnist.npz"), to: destination, md5: Self.breast.md5)
            #expect(report.resumedFrom == Int64(Self.breastBytes.count))
            #expect(FileManager.default.contents(atPath: destination) == Data(Self.breastBytes))
            #expect(server.requests.count == 1)
        }
    }

    @Test func closedPortGivesAClearUnreachableError() throws {
        let port = try LoopbackHTTPServer.closedPort()
        let url = URL(string: "http://127.0.0.1:\(port)/breastmnist.npz")!
        try withTemporaryFolder { folder in
            #expect {
                try Downloader(attempts: 1).download(
                    from: url, to: folder + "/breastmnist.npz", md5: Self.breast.md5, label: "breastmnist")
            } throws: { error in
                guard let error = error as? DownloadError, case .unreachable(let host, _) = error.reason else { return false }
                return host == "127.0.0.1" && error.description.hasPrefix("could not reach 127.0.0.1: ")
                    && error.description.contains("breastmnist") && error.description.contains(url.absoluteString)
            }
            let left = try FileManager.default.contentsOfDirectory(atPath: folder)
            #expect(left.isEmpty)
        }
    }

    @Test func medMNISTFilesCopiesTheBundledFileThenFindsItThenDownloadsOnRequest() throws {
        try withServer(["/breastmnist.npz": .file(Self.breastBytes)]) { server, folder in
            let bundled = repositoryRoot.appendingPathComponent("Data/medmnist").path
            let files = MedMNISTFiles(folder: folder + "/medmnist", bundledFolders: [bundled])
            let destination = folder + "/medmnist/breastmnist.npz"

            #expect(files.location(of: Self.breast) == .bundled(bundled + "/breastmnist.npz"))
            #expect(files.location(of: MedMNISTInfo.named("dermamnist")!) == nil)
            #expect(try files.fetch(Self.breast) == .copiedFromBundle(source: bundled + "/breastmnist.npz", path: destination))
            #expect(files.location(of: Self.breast) == .downloaded(destination))
            #expect(try files.fetch(Self.breast) == .alreadyPresent(path: destination))
            #expect(server.requests.isEmpty)

            let mirror = server.url("/breastmnist.npz").absoluteString
            #expect(try files.fetch(Self.breast, from: mirror) == .alreadyPresent(path: destination))
            let result = try files.fetch(Self.breast, from: mirror, force: true, downloader: Downloader(attempts: 1))
            guard case .downloaded(let report) = result else {
                Issue.record("expected a download, got \(result)")
                return
            }
            #expect(report.path == destination && report.md5 == Self.breast.md5)
            #expect(server.requests.count == 1)

            // An explicit URL is an explicit source: the bundled copy is not used instead.
            let elsewhere = MedMNISTFiles(folder: folder + "/other", bundledFolders: [bundled])
            guard case .downloaded = try elsewhere.fetch(Self.breast, from: mirror, downloader: Downloader(attempts: 1)) else {
                Issue.record("expected a download from the mirror")
                return
            }
            #expect(server.requests.count == 2)
        }
    }

    @Test func dataDirectoryComesFromTheEnvironment() {
        #expect(DataDirectory.path(environment: ["GALEN_DATA": "/data/galen", "HOME": "/home/x"]) == "/data/galen")
        #expect(DataDirectory.path(environment: ["GALEN_DATA": "", "HOME": "/home/x"]) == "/home/x/.galen/data")
        #expect(DataDirectory.path(environment: ["HOME": "/home/x"]) == "/home/x/.galen/data")
    }

    @Test func suggestionsForMistypedNames() {
        #expect(MedMNISTInfo.suggestions(for: "breastmnst") == ["breastmnist"])
        #expect(MedMNISTInfo.suggestions(for: "PneumoniaMNIST").first == "pneumoniamnist")
        #expect(Set(MedMNISTInfo.suggestions(for: "organ")) == ["organamnist", "organcmnist", "organsmnist"])
        #expect(MedMNISTInfo.suggestions(for: "xyzzy-unrelated").isEmpty)
    }
}

/// Progress callbacks arrive on a background thread; this collects them.
private final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [DownloadProgress] = []

    var steps: [DownloadProgress] { lock.withLock { recorded } }

    @Sendable func record(_ progress: DownloadProgress) {
        lock.withLock { recorded.append(progress) }
    }
}
