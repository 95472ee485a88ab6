#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Where the MedMNIST files are on this machine, and how to get the missing ones.
///
/// Downloads go to `folder` (by default `<data directory>/medmnist`, see `DataDirectory`); the
/// copies bundled with Galen (`Data/medmnist`) are found and used when present.
///
/// ```swift
/// let files = MedMNISTFiles()
/// let info = MedMNISTInfo.named("dermamnist")!
/// let result = try files.fetch(info)   // downloads and verifies, unless already here
/// let derma = try MedMNIST(contentsOf: result.path)
/// ```
public struct MedMNISTFiles: Sendable {
    /// The folder downloads go to.
    public let folder: String
    /// Folders searched for bundled copies, nearest first.
    public let bundledFolders: [String]

    /// Files in `folder`, with bundled copies found in `bundledFolders`.
    public init(
        folder: String = (DataDirectory.path() as NSString).appendingPathComponent("medmnist"),
        bundledFolders: [String] = DataDirectory.bundledFolders().map { ($0 as NSString).appendingPathComponent("medmnist") }
    ) {
        self.folder = folder
        self.bundledFolders = bundledFolders
    }

    /// Where a dataset is, or would be once downloaded.
    public enum Location: Sendable, Equatable {
        /// Downloaded into `folder`.
        case downloaded(String)
        /// A copy bundled with Galen.
        case bundled(String)

        /// The file's path.
        public var path: String {
            switch self {
            case .downloaded(let path), .bundled(let path): return path
            }
        }
    }

    /// The path a download of `info` goes to: `<folder>/<flag>.npz`.
    public func downloadPath(for info: MedMNISTInfo) -> String {
        (folder as NSString).appendingPathComponent("\(info.flag).npz")
    }

    /// The file for `info` on this machine, downloaded or bundled (checked for existence, not
    /// for its checksum); nil when there is none.
    public func location(of info: MedMNISTInfo) -> Location? {
        let downloaded = downloadPath(for: info)
        if fileSize(atPath: downloaded) != nil { return .downloaded(downloaded) }
        for bundled in bundledFolders {
            let path = (bundled as NSString).appendingPathComponent("\(info.flag).npz")
            if fileSize(atPath: path) != nil { return .bundled(path) }
        }
        return nil
    }

    /// What `fetch` did.
    public enum FetchResult: Sendable, Equatable {
        /// The file was already in `folder` with the right MD5.
        case alreadyPresent(path: String)
        /// The bundled copy (checksum verified) was copied into `folder`.
        case copiedFromBundle(source: String, path: String)
        /// The file was downloaded.
        case downloaded(DownloadReport)

        /// The verified file in `folder`.
        public var path: String {
            switch self {
            case .alreadyPresent(let path), .copiedFromBundle(_, let path): return path
            case .downloaded(let report): return report.path
            }
        }
    }

    /// Makes sure `<folder>/<flag>.npz` holds the official file of `info`, verified by MD5.
    ///
    /// A verified file already there is kept, unless `force`. Otherwise a bundled copy with the
    /// right checksum is copied, unless `force` or `url` is given (an explicit source, e.g. a
    /// mirror); failing that the file is downloaded from `url`, by default the catalog's URL.
    /// Throws `DownloadError`.
    public func fetch(
        _ info: MedMNISTInfo, from url: String? = nil, force: Bool = false, downloader: Downloader = Downloader(),
        progress: (@Sendable (DownloadProgress) -> Void)? = nil
    ) throws -> FetchResult {
        let destination = downloadPath(for: info)
        let source = url ?? info.url
        guard let remote = URL(string: source), remote.scheme != nil else {
            throw DownloadError(.invalidURL, url: source, label: info.flag)
        }
        if !force, fileSize(atPath: destination) != nil, (try? MD5.hash(fileAtPath: destination).hexDigest) == info.md5 {
            return .alreadyPresent(path: destination)
        }
        if !force && url == nil, case .bundled(let bundled)? = location(of: info),
           (try? MD5.hash(fileAtPath: bundled).hexDigest) == info.md5 {
            try copy(bundled, to: destination, label: info.flag, url: source)
            return .copiedFromBundle(source: bundled, path: destination)
        }
        let report = try downloader.download(from: remote, to: destination, md5: info.md5, label: info.flag, progress: progress)
        return .downloaded(report)
    }

    /// Copies through a temporary name and renames, so `destination` is never half written.
    private func copy(_ source: String, to destination: String, label: String, url: String) throws {
        let temporary = Downloader.partialPath(for: destination)
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            unlink(temporary)
            try FileManager.default.copyItem(atPath: source, toPath: temporary)
        } catch {
            throw DownloadError(.fileSystem(path: destination, detail: "cannot copy \(source): \(error.localizedDescription)"), url: url, label: label)
        }
        guard rename(temporary, destination) == 0 else {
            throw DownloadError(
                .fileSystem(path: destination, detail: "cannot rename \(temporary): \(String(cString: strerror(errno)))"), url: url, label: label)
        }
    }
}

extension MedMNISTInfo {
    /// Catalog flags close to `name` (by edit distance, or containing it), closest first, for
    /// "did you mean" messages.
    public static func suggestions(for name: String, limit: Int = 3) -> [String] {
        let key = name.lowercased()
        let scored = catalog.map { info -> (flag: String, distance: Int) in
            let distance = editDistance(key, info.flag)
            return (info.flag, key.count >= 3 && info.flag.contains(key) ? min(distance, 1) : distance)
        }
        let close = scored.filter { $0.distance <= max(2, key.count / 3) }
        return close.sorted { ($0.distance, $0.flag) < ($1.distance, $1.flag) }.prefix(limit).map(\.flag)
    }
}

/// Levenshtein distance between two strings, by characters.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for (i, character) in a.enumerated() {
        var current = [i + 1]
        for j in b.indices {
            current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (character == b[j] ? 0 : 1)))
        }
        previous = current
    }
    return previous[b.count]
}
