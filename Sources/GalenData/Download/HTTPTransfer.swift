import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP GET through Foundation's URLSession (FoundationNetworking, libcurl underneath, on
/// Linux), run synchronously: the body is handed over piece by piece as it arrives instead of
/// being collected in memory, so large files stream straight to disk.
///
/// The delegate callbacks run one at a time on the transfer's own serial queue; `run` reads the
/// results only after the completion callback has signalled, so no state is touched from two
/// threads at once.
final class HTTPTransfer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    /// How the transfer ended.
    struct Outcome {
        /// The response, nil when none arrived (the host could not be reached).
        var response: HTTPURLResponse?
        /// The transport error, if the transfer did not complete; nil on success and when the
        /// body was refused on purpose.
        var error: Error?
        /// An error thrown by `receive`, which stops the transfer.
        var receiveError: Error?
    }

    /// Decides, given the response, whether to take the body.
    private let accept: (HTTPURLResponse) -> Bool
    /// Consumes one piece of the body; throwing stops the transfer.
    private let receive: (Data) throws -> Void
    private var outcome = Outcome()
    private var refused = false
    private let finished = DispatchSemaphore(value: 0)

    private init(accept: @escaping (HTTPURLResponse) -> Bool, receive: @escaping (Data) throws -> Void) {
        self.accept = accept
        self.receive = receive
    }

    /// Sends `request` and blocks until it ends. `accept` sees the response first; the body goes to
    /// `receive` only if it returned true.
    static func run(
        _ request: URLRequest, idleTimeout: TimeInterval,
        accept: @escaping (HTTPURLResponse) -> Bool, receive: @escaping (Data) throws -> Void
    ) -> Outcome {
        let transfer = HTTPTransfer(accept: accept, receive: receive)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = idleTimeout
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: transfer, delegateQueue: queue)
        session.dataTask(with: request).resume()
        transfer.finished.wait()
        // The session holds its delegate until invalidated.
        session.finishTasksAndInvalidate()
        return transfer.outcome
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void
    ) {
        guard let http = response as? HTTPURLResponse else {
            refused = true
            completionHandler(.cancel)
            return
        }
        outcome.response = http
        if accept(http) {
            completionHandler(.allow)
        } else {
            refused = true
            completionHandler(.cancel)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard outcome.receiveError == nil, !refused else { return }
        do {
            try receive(data)
        } catch {
            outcome.receiveError = error
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        if outcome.response == nil, let response = task.response as? HTTPURLResponse { outcome.response = response }
        if !refused && outcome.receiveError == nil { outcome.error = error }
        finished.signal()
    }
}

/// A short human reason for a transport error, e.g. `connection refused`.
func describeTransportError(_ error: Error, idleTimeout: TimeInterval) -> String {
    if let urlError = error as? URLError {
        switch urlError.code {
        case .cannotConnectToHost: return "connection refused"
        case .cannotFindHost, .dnsLookupFailed: return "host name not found"
        case .notConnectedToInternet: return "not connected to the internet"
        case .timedOut: return "no answer within \(Int(idleTimeout)) s"
        case .networkConnectionLost: return "the connection was lost"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
             .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot:
            return "secure connection failed (TLS)"
        default: break
        }
    }
    let nsError = error as NSError
    if let text = nsError.userInfo[NSLocalizedDescriptionKey] as? String, !text.isEmpty { return text }
    return "\(nsError.localizedDescription) (\(nsError.domain) \(nsError.code))"
}
