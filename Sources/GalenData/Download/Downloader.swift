#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Galen

/// How far a download has come.
public struct DownloadProgress: Sendable, Equatable {
    /// Bytes of the file on disk so far, a resumed prefix included.
    public let bytes: Int64
    /// The file's full size, when the server said.
    public let total: Int64?

    /// Progress of `bytes` out of `total` (nil: unknown).
    public init(bytes: Int64, total: Int64?) {
        self.bytes = bytes
        self.total = total
    }
}

/// What a finished download did.
public struct DownloadReport: Sendable, Equatable {
    /// The verified file, under its final name.
    public let path: String
    /// Its size in bytes.
    public let bytes: Int64
    /// Its MD5, 32 lowercase hex digits.
    public let md5: String
    /// The offset of the last successful resume (a `Range: bytes=N-` request answered with 206),
    /// 0 when the file came in one piece.
    public let resumedFrom: Int64
    /// How many times the transfer started again from byte 0 after a resume went wrong (the server
    /// ignored the range, or the resumed file failed its MD5).
    public let restarts: Int
}

/// Downloads a URL to a file over HTTP(S), resumably and verified.
///
/// The bytes go to `<destination>.part`. When a `.part` file is already there, the download asks
/// for the rest with `Range: bytes=N-`; if the server sends the whole file instead (status 200),
/// or the resumed file fails its checksum, it starts again from byte 0. Only a file whose MD5
/// matches is renamed to `destination` (atomically, on the same file system), so the final name
/// never holds a partial or corrupt file. Transfers use Foundation's URLSession.
///
/// ```swift
/// let report = try Downloader().download(
///     from: URL(string: info.url)!, to: "breastmnist.npz", md5: info.md5, label: "breastmnist"
/// ) { print($0.bytes, $0.total ?? -1) }
/// ```
public struct Downloader: Sendable {
    /// Seconds without any data before a transfer is given up.
    public var idleTimeout: TimeInterval
    /// How many transfers one `download` call may make when the connection breaks off: each
    /// further one resumes from the `.part` file.
    public var attempts: Int

    /// A downloader; see `idleTimeout` and `attempts`.
    public init(idleTimeout: TimeInterval = 60, attempts: Int = 3) {
        check(idleTimeout > 0, "Downloader: idleTimeout must be positive, got \(idleTimeout)")
        check(attempts >= 1, "Downloader: attempts must be at least 1, got \(attempts)")
        self.idleTimeout = idleTimeout
        self.attempts = attempts
    }

    /// The name of the partial file kept while `destination` is being downloaded.
    public static func partialPath(for destination: String) -> String { destination + ".part" }

    /// Downloads `url` to `destination`, checking the result against `md5` (hex, any case) when
    /// given. `label` names the download in errors (e.g. a dataset flag); `progress` is called
    /// from a background thread as bytes arrive.
    ///
    /// Throws a `DownloadError`: `.unreachable` when no server answers, `.httpStatus` for an error
    /// status, `.interrupted` when the connection breaks off `attempts` times (the `.part` file
    /// stays for the next call), `.checksumMismatch` when the file is not the expected one (the
    /// `.part` file is deleted).
    @discardableResult
    public func download(
        from url: URL, to destination: String, md5: String? = nil, label: String? = nil,
        progress: (@Sendable (DownloadProgress) -> Void)? = nil
    ) throws -> DownloadReport {
        let expectedMD5 = md5?.lowercased()
        let part = Self.partialPath(for: destination)
        func error(_ reason: DownloadError.Reason) -> DownloadError { DownloadError(reason, url: url.absoluteString, label: label) }

        let folder = (destination as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw DownloadError(.fileSystem(path: folder, detail: "cannot create the folder: \(error.localizedDescription)"),
                                    url: url.absoluteString, label: label)
            }
        }

        var transfers = 0
        var restarts = 0
        while true {
            transfers += 1
            let result = try transferOnce(url: url, part: part, label: label, progress: progress)
            switch result.end {
            case .restartFromZero(let why):
                // Allowed once: a second time means the server keeps misbehaving.
                guard restarts == 0 else { throw error(.badResponse(why)) }
                restarts += 1
                unlink(part)
                continue
            case .broken(let detail):
                if transfers < attempts { continue }
                throw error(.interrupted(received: result.size, expected: result.total, detail: detail))
            case .complete:
                break
            }
            let actual = result.digest.hexDigest
            if let expectedMD5, actual != expectedMD5 {
                unlink(part)
                if result.startOffset > 0 && restarts == 0 {
                    // The kept prefix may come from another version of the file: fetch it whole.
                    restarts += 1
                    continue
                }
                throw error(.checksumMismatch(expected: expectedMD5, actual: actual))
            }
            guard rename(part, destination) == 0 else {
                throw error(.fileSystem(path: destination, detail: "cannot rename \(part) to it: \(String(cString: strerror(errno)))"))
            }
            return DownloadReport(
                path: destination, bytes: result.size, md5: actual, resumedFrom: result.startOffset, restarts: restarts)
        }
    }

    /// How one transfer ended.
    private enum End {
        /// The whole body is in the `.part` file.
        case complete
        /// The connection broke off; the `.part` file holds what came.
        case broken(String)
        /// The kept prefix cannot be used: delete it and start again.
        case restartFromZero(String)
    }

    private struct TransferResult {
        var end: End
        /// Where this transfer started writing: the resumed offset, or 0.
        var startOffset: Int64
        /// Bytes in the `.part` file.
        var size: Int64
        /// The full size, when known.
        var total: Int64?
        /// MD5 of the `.part` file's bytes (meaningful when complete).
        var digest: MD5.Digest
    }

    /// One GET: resumes from the `.part` file when it has bytes, and appends or rewrites it.
    private func transferOnce(
        url: URL, part: String, label: String?, progress: (@Sendable (DownloadProgress) -> Void)?
    ) throws -> TransferResult {
        let urlText = url.absoluteString
        func error(_ reason: DownloadError.Reason) -> DownloadError { DownloadError(reason, url: urlText, label: label) }
        let kept = fileSize(atPath: part) ?? 0

        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: idleTimeout)
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        if kept > 0 { request.setValue("bytes=\(kept)-", forHTTPHeaderField: "Range") }

        // Filled on the transfer's queue, read here after it has finished.
        let sink = PartFile(path: part)
        var startOffset: Int64 = 0
        var total: Int64?
        var decision: End?
        var acceptError: Error?
        var accepted = false

        let outcome = HTTPTransfer.run(request, idleTimeout: idleTimeout, accept: { response in
            let status = response.statusCode
            let length = response.expectedContentLength >= 0 ? response.expectedContentLength : nil
            do {
                switch status {
                case 200:
                    total = length
                    try sink.start(truncating: true)
                case 206 where kept > 0:
                    let range = ContentRange(response.value(forHTTPHeaderField: "Content-Range"))
                    guard let range, range.start == kept else {
                        decision = .restartFromZero("asked for bytes from \(kept), the server sent Content-Range "
                            + "'\(response.value(forHTTPHeaderField: "Content-Range") ?? "none")'")
                        return false
                    }
                    startOffset = kept
                    total = range.total ?? length.map { kept + $0 }
                    try sink.start(truncating: false)
                case 416 where kept > 0:
                    // Nothing left to send: the kept file may already be whole.
                    let range = ContentRange(response.value(forHTTPHeaderField: "Content-Range"))
                    if let whole = range?.total, whole == kept {
                        try sink.adoptExisting()
                        startOffset = kept
                        total = whole
                        decision = .complete
                    } else {
                        decision = .restartFromZero("the server refused the range bytes=\(kept)- (status 416)")
                    }
                    return false
                default:
                    return false
                }
            } catch {
                acceptError = error
                return false
            }
            accepted = true
            progress?(DownloadProgress(bytes: sink.size, total: total))
            return true
        }, receive: { data in
            try sink.append(data)
            progress?(DownloadProgress(bytes: sink.size, total: total))
        })
        let closeError = sink.finish()

        if let acceptError { throw error(.fileSystem(path: part, detail: "\(acceptError)")) }
        if let receiveError = outcome.receiveError ?? closeError {
            throw error(.fileSystem(path: part, detail: "\(receiveError)"))
        }
        guard let response = outcome.response else {
            let detail = outcome.error.map { describeTransportError($0, idleTimeout: idleTimeout) } ?? "no response"
            throw error(.unreachable(host: url.host ?? urlText, detail: detail))
        }
        if let decision {
            return TransferResult(end: decision, startOffset: startOffset, size: sink.size, total: total, digest: sink.digest)
        }
        guard accepted else {
            let status = response.statusCode
            if (200..<300).contains(status) { throw error(.badResponse("status \(status) to a request for the whole file")) }
            throw error(.httpStatus(status))
        }
        if let transportError = outcome.error {
            let detail = describeTransportError(transportError, idleTimeout: idleTimeout)
            return TransferResult(end: .broken(detail), startOffset: startOffset, size: sink.size, total: total, digest: sink.digest)
        }
        if let total, sink.size != total {
            return TransferResult(
                end: .broken("the connection closed early"), startOffset: startOffset, size: sink.size, total: total,
                digest: sink.digest)
        }
        return TransferResult(end: .complete, startOffset: startOffset, size: sink.size, total: total, digest: sink.digest)
    }
}

/// The `.part` file being written: appends bytes and keeps the running MD5 of all its contents.
private final class PartFile {
    let path: String
    private var descriptor: Int32 = -1
    private var md5 = MD5()
    private(set) var size: Int64 = 0

    init(path: String) { self.path = path }

    var digest: MD5.Digest { md5.finalize() }

    /// Opens the file for writing: emptied, or appended to after hashing what it holds.
    func start(truncating: Bool) throws {
        if !truncating { try adoptExisting() }
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncating ? O_TRUNC : O_APPEND)
        descriptor = open(path, flags, 0o644)
        guard descriptor >= 0 else { throw SystemError("cannot open for writing") }
    }

    /// Takes the file's current contents as the start of the download.
    func adoptExisting() throws {
        md5 = MD5()
        size = 0
        try forEachChunk(ofFileAtPath: path) { chunk in
            md5.update(chunk)
            size += Int64(chunk.count)
        }
    }

    func append(_ data: Data) throws {
        check(descriptor >= 0, "PartFile.append before start")
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var written = 0
            while written < buffer.count {
                let count = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw SystemError("cannot write") }
                written += count
            }
        }
        md5.update(data)
        size += Int64(data.count)
    }

    /// Flushes to disk and closes; returns the error instead of throwing, so callers report the
    /// more telling error first.
    func finish() -> Error? {
        guard descriptor >= 0 else { return nil }
        defer { descriptor = -1 }
        // fsync before the rename that follows, so a crash cannot leave a renamed but empty file.
        let synced = fsync(descriptor) == 0
        let failure = synced ? nil : SystemError("cannot flush to disk")
        _ = close(descriptor)
        return failure
    }
}

/// The system's reason for the last failed call, prefixed with what was being done.
private struct SystemError: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = "\(what): \(String(cString: strerror(errno)))" }
}

/// `Content-Range: bytes START-END/TOTAL` (TOTAL may be `*`), or `bytes */TOTAL` on a 416.
private struct ContentRange {
    let start: Int64?
    let total: Int64?

    init?(_ header: String?) {
        guard let header, header.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        let halves = spec.split(separator: "/", maxSplits: 1)
        guard halves.count == 2 else { return nil }
        total = Int64(halves[1])
        if halves[0] == "*" {
            start = nil
        } else {
            guard let dash = halves[0].firstIndex(of: "-"), let first = Int64(halves[0][..<dash]) else { return nil }
            start = first
        }
    }
}

/// The size of the regular file at `path`, nil when there is none.
func fileSize(atPath path: String) -> Int64? {
    var info = stat()
    guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
    return Int64(info.st_size)
}
