#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import GalenData

/// Shows download progress on stderr: a bar redrawn in place when stderr is a terminal, otherwise
/// (logs, pipes) a plain line every 5 s and one at the end. A first line names the URL, once the
/// transfer has started (nothing is printed when nothing is downloaded).
final class ProgressDisplay: @unchecked Sendable {
    private let label: String
    private let url: String
    private let isTerminal: Bool
    private let lock = NSLock()
    /// When the first bytes arrived, for the rate.
    private var started = Date()
    private var lastDraw = Date.distantPast
    private var latest: DownloadProgress?
    /// Bytes already on disk when the transfer started (a resumed download), left out of the rate.
    private var startBytes: Int64 = 0

    init(label: String, url: String, isTerminal: Bool = isatty(STDERR_FILENO) != 0) {
        self.label = label
        self.url = url
        self.isTerminal = isTerminal
    }

    /// Records progress; called from the download's thread.
    func update(_ progress: DownloadProgress) {
        lock.withLock {
            let now = Date()
            if latest == nil {
                let resuming = progress.bytes > 0 ? " (resuming at byte \(progress.bytes))" : ""
                printToStandardError("\(label): downloading \(url)\(resuming)")
                started = now
                startBytes = progress.bytes
                lastDraw = isTerminal ? .distantPast : now
            }
            latest = progress
            guard now.timeIntervalSince(lastDraw) >= (isTerminal ? 0.1 : 5) else { return }
            lastDraw = now
            if isTerminal {
                FileHandle.standardError.write(Data(("\r\u{1B}[2K" + bar(progress, now: now)).utf8))
            } else {
                printToStandardError(line(progress))
            }
        }
    }

    /// Ends the display: the bar drawn complete and its line ended, or a last plain line.
    func finish() {
        lock.withLock {
            guard let latest else { return }
            if isTerminal {
                FileHandle.standardError.write(Data(("\r\u{1B}[2K" + bar(latest, now: Date()) + "\n").utf8))
            } else {
                printToStandardError(line(latest))
            }
        }
    }

    /// `breastmnist: 48% (268.0 KB of 559.6 KB)`
    private func line(_ progress: DownloadProgress) -> String {
        guard let total = progress.total, total > 0 else { return "\(label): \(formatBytes(progress.bytes))" }
        return "\(label): \(min(progress.bytes, total) * 100 / total)% (\(formatBytes(progress.bytes)) of \(formatBytes(total)))"
    }

    /// `breastmnist [#########.........]  48%  268.0 KB / 559.6 KB  2.1 MB/s`
    private func bar(_ progress: DownloadProgress, now: Date) -> String {
        let seconds = max(now.timeIntervalSince(started), 0.001)
        let rate = formatBytes(Int64(Double(max(progress.bytes - startBytes, 0)) / seconds)) + "/s"
        guard let total = progress.total, total > 0 else { return "\(label)  \(formatBytes(progress.bytes))  \(rate)" }
        let width = 30
        let filled = Int(min(progress.bytes, total) * Int64(width) / total)
        let percent = Int(min(progress.bytes, total) * 100 / total)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let percentText = String(repeating: " ", count: 3 - String(percent).count) + "\(percent)%"
        return "\(label) [\(bar)] \(percentText)  \(formatBytes(progress.bytes)) / \(formatBytes(total))  \(rate)"
    }
}
