import Foundation

/// Why a download failed. The description names what was being downloaded, the URL and the cause,
/// e.g. `could not reach zenodo.org: host name not found (breastmnist from https://…)`.
public struct DownloadError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// What went wrong.
    public enum Reason: Equatable, Sendable {
        /// No HTTP response came back: the host is unknown, refuses connections, or is offline.
        case unreachable(host: String, detail: String)
        /// The server answered with an error status (404, 500, …).
        case httpStatus(Int)
        /// The connection broke off after `received` of `expected` bytes; the `.part` file is kept
        /// so that the next try resumes.
        case interrupted(received: Int64, expected: Int64?, detail: String)
        /// The whole file arrived but its MD5 is not the published one; nothing was kept.
        case checksumMismatch(expected: String, actual: String)
        /// The server's reply does not make sense (e.g. a range other than the one asked for).
        case badResponse(String)
        /// The URL is not one (no scheme such as `https:`).
        case invalidURL
        /// Reading or writing the local file failed.
        case fileSystem(path: String, detail: String)
    }

    /// What went wrong.
    public let reason: Reason
    /// The URL being downloaded.
    public let url: String
    /// What is being downloaded, e.g. a dataset flag; nil when unnamed.
    public let label: String?

    /// An error about downloading `label` from `url`.
    public init(_ reason: Reason, url: String, label: String? = nil) {
        self.reason = reason
        self.url = url
        self.label = label
    }

    public var description: String {
        let what = (label.map { "\($0) from " } ?? "") + url
        switch reason {
        case .unreachable(let host, let detail):
            return "could not reach \(host): \(detail) (downloading \(what))"
        case .httpStatus(let code):
            let phrase = HTTPStatus.phrase(code)
            return "HTTP status \(code)\(phrase.isEmpty ? "" : " \(phrase)") for \(what)"
        case .interrupted(let received, let expected, let detail):
            let of = expected.map { " of \($0)" } ?? ""
            return "download of \(what) stopped after \(received)\(of) bytes: \(detail); run it again to resume"
        case .checksumMismatch(let expected, let actual):
            return "\(what) arrived with MD5 \(actual), expected \(expected); the file was discarded"
        case .badResponse(let detail):
            return "unexpected reply for \(what): \(detail)"
        case .invalidURL:
            return "'\(url)' is not a valid URL" + (label.map { " for \($0)" } ?? "")
        case .fileSystem(let path, let detail):
            return "\(path): \(detail) (downloading \(what))"
        }
    }

    public var errorDescription: String? { description }
}

/// Reason phrases of the status codes a download is likely to meet.
enum HTTPStatus {
    static func phrase(_ code: Int) -> String {
        switch code {
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 410: return "Gone"
        case 416: return "Range Not Satisfiable"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return ""
        }
    }
}
