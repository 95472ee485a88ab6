#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A small HTTP/1.1 server on 127.0.0.1 for download tests: POSIX sockets, an ephemeral port,
/// one thread serving one connection at a time, `Connection: close` on every reply.
///
/// Each path has a `Route` that says how to answer; every request is recorded so tests can check
/// what the client asked for (e.g. its `Range` header).
final class LoopbackHTTPServer: @unchecked Sendable {
    /// How to answer requests for one path.
    enum Route {
        /// The bytes, honouring `Range: bytes=N-` (206, or 416 past the end).
        case file([UInt8])
        /// 404 Not Found.
        case notFound
        /// Requests without a Range header get the full Content-Length but only the first
        /// `after` bytes, then the connection closes; ranged requests are served like `file`.
        case dropsFirstTransfer([UInt8], after: Int)
        /// Always the whole file with status 200, whatever the Range header says.
        case ignoresRange([UInt8])
    }

    /// A request as received.
    struct Request: Sendable {
        let method: String
        let path: String
        /// Header fields by lowercased name.
        let headers: [String: String]
    }

    /// The port the server listens on.
    let port: UInt16
    private let listener: Int32
    private let routes: [String: Route]
    private let lock = NSLock()
    private var stopping = false
    private var received: [Request] = []
    private let stopped = DispatchSemaphore(value: 0)

    /// Starts serving `routes` (keyed by path, e.g. `/breastmnist.npz`) on a new thread.
    init(routes: [String: Route]) throws {
        self.routes = routes
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        var reuse: Int32 = 1
        setsockopt(socketDescriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(socketDescriptor, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(socketDescriptor)
            throw ServerError("bind/listen on 127.0.0.1: \(reason)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketDescriptor, $0, &length) }
        }
        listener = socketDescriptor
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in serve() }
        thread.name = "LoopbackHTTPServer:\(port)"
        thread.start()
    }

    deinit { close(listener) }

    /// `http://127.0.0.1:<port><path>`.
    func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(port)\(path)")! }

    /// The requests received so far, in order.
    var requests: [Request] { lock.withLock { received } }

    /// Stops accepting connections and waits for the serving thread to end.
    func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopping = true }
            return !stopping
        }
        if first { stopped.wait() }
    }

    /// A port on 127.0.0.1 that nothing listens on (bound, then closed again).
    static func closedPort() throws -> UInt16 {
        let server = try LoopbackHTTPServer(routes: [:])
        server.stop()
        return server.port
    }

    private func serve() {
        defer { stopped.signal() }
        while !lock.withLock({ stopping }) {
            var waiting = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&waiting, 1, 50) > 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            if let request = readRequest(connection) {
                lock.withLock { received.append(request) }
                respond(to: request, on: connection)
            }
            close(connection)
        }
    }

    /// Reads up to the blank line that ends the header; nil on a malformed or cut-off request.
    private func readRequest(_ connection: Int32) -> Request? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while bytes.firstRange(of: end) == nil {
            let got = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress!, $0.count, 0) }
            guard got > 0, bytes.count < 65536 else { return nil }
            bytes += buffer[..<got]
        }
        guard let head = String(bytes: bytes, encoding: .utf8) else { return nil }
        let lines = head.components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ")
        guard requestLine.count == 3 else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Request(method: String(requestLine[0]), path: String(requestLine[1]), headers: headers)
    }

    private func respond(to request: Request, on connection: Int32) {
        guard request.method == "GET" || request.method == "HEAD", let route = routes[request.path] else {
            reply(status: "404 Not Found", headers: [:], body: Array("no such file\n".utf8), on: connection)
            return
        }
        switch route {
        case .notFound:
            reply(status: "404 Not Found", headers: [:], body: Array("not found\n".utf8), on: connection)
        case .ignoresRange(let bytes):
            reply(status: "200 OK", headers: [:], body: bytes, on: connection)
        case .file(let bytes):
            sendRange(of: bytes, for: request, on: connection)
        case .dropsFirstTransfer(let bytes, let after):
            if request.headers["range"] != nil {
                sendRange(of: bytes, for: request, on: connection)
            } else {
                reply(status: "200 OK", headers: [:], body: bytes, sendingOnly: after, on: connection)
            }
        }
    }

    /// 200 with the whole file, 206 with the tail asked for by `Range: bytes=N-`, or 416.
    private func sendRange(of bytes: [UInt8], for request: Request, on connection: Int32) {
        guard let range = request.headers["range"] else {
            reply(status: "200 OK", headers: [:], body: bytes, on: connection)
            return
        }
        guard range.hasPrefix("bytes="), range.hasSuffix("-"), let start = Int(range.dropFirst(6).dropLast()) else {
            reply(status: "400 Bad Request", headers: [:], body: [], on: connection)
            return
        }
        guard start < bytes.count else {
            reply(status: "416 Range Not Satisfiable", headers: ["Content-Range": "bytes */\(bytes.count)"], body: [], on: connection)
            return
        }
        reply(status: "206 Partial Content", headers: ["Content-Range": "bytes \(start)-\(bytes.count - 1)/\(bytes.count)"],
             body: Array(bytes[start...]), on: connection)
    }

    /// Writes a reply announcing `body.count` bytes but sending only the first `limit` of them.
    private func reply(status: String, headers: [String: String], body: [UInt8], sendingOnly limit: Int? = nil, on connection: Int32) {
        var head = "HTTP/1.1 \(status)\r\nContent-Length: \(body.count)\r\nContent-Type: application/octet-stream\r\n"
        head += "Accept-Ranges: bytes\r\nConnection: close\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        guard writeAll(Array(head.utf8), to: connection) else { return }
        _ = writeAll(Array(body.prefix(limit ?? body.count)), to: connection)
    }

    private func writeAll(_ bytes: [UInt8], to connection: Int32) -> Bool {
        var written = 0
        while written < bytes.count {
            // MSG_NOSIGNAL: a client that hung up must not kill the test process with SIGPIPE.
            let count = bytes.withUnsafeBytes {
                send(connection, $0.baseAddress! + written, bytes.count - written, Int32(MSG_NOSIGNAL))
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            written += count
        }
        return true
    }

    struct ServerError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
