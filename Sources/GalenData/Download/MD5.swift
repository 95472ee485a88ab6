#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Galen

/// MD5 (RFC 1321), computed incrementally: feed bytes with `update`, read the digest with
/// `finalize`. Used only to check downloads against published checksums, never for security.
///
/// ```swift
/// var md5 = MD5()
/// md5.update(Array("abc".utf8))
/// md5.finalize().hexDigest   // "900150983cd24fb0d6963f7d28e17f72"
/// ```
public struct MD5: Sendable {
    /// The four 32-bit state words A, B, C, D.
    private var state: (UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476)
    /// Bytes not yet hashed: fewer than one 64-byte block.
    private var pending: [UInt8] = []
    /// Bytes fed so far.
    private var length: UInt64 = 0

    /// An MD5 computation over no bytes yet.
    public init() {
        pending.reserveCapacity(64)
    }

    /// Adds `bytes` to the message.
    public mutating func update(_ bytes: some Collection<UInt8>) {
        if bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) == nil {
            Array(bytes).withUnsafeBytes { update($0) }
        }
    }

    /// Adds the bytes of `buffer` to the message.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        length &+= UInt64(buffer.count)
        var rest = buffer[...]
        if !pending.isEmpty {
            let take = min(64 - pending.count, rest.count)
            pending.append(contentsOf: rest.prefix(take))
            rest = rest.dropFirst(take)
            guard pending.count == 64 else { return }
            let block = pending
            block.withUnsafeBytes { compress($0.baseAddress!) }
            pending.removeAll(keepingCapacity: true)
        }
        guard let base = buffer.baseAddress else { return }
        var offset = rest.startIndex
        while rest.endIndex - offset >= 64 {
            compress(base + offset)
            offset += 64
        }
        pending.append(contentsOf: buffer[offset..<rest.endIndex])
    }

    /// The digest of everything fed so far. The computation can go on afterwards: finalizing works
    /// on a copy.
    public func finalize() -> Digest {
        var copy = self
        let bitLength = length &* 8
        // Padding: 0x80, zeros up to 56 mod 64, then the message length in bits, little-endian.
        var tail: [UInt8] = [0x80]
        tail += [UInt8](repeating: 0, count: (55 - Int(length % 64) + 64) % 64)
        for shift in stride(from: 0, to: 64, by: 8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        copy.update(tail)
        check(copy.pending.isEmpty, "MD5 padding must end on a block boundary")
        var bytes: [UInt8] = []
        for word in [copy.state.0, copy.state.1, copy.state.2, copy.state.3] {
            for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
        }
        return Digest(bytes: bytes)
    }

    /// The MD5 of `bytes`.
    public static func hash(_ bytes: some Collection<UInt8>) -> Digest {
        var md5 = MD5()
        md5.update(bytes)
        return md5.finalize()
    }

    /// The MD5 of the file at `path`, read in 1 MiB pieces so that large files need little memory.
    /// Throws a `DataFormatError` naming the file when it cannot be read.
    public static func hash(fileAtPath path: String) throws -> Digest {
        var md5 = MD5()
        try forEachChunk(ofFileAtPath: path) { md5.update($0) }
        return md5.finalize()
    }

    /// A 16-byte MD5 digest.
    public struct Digest: Sendable, Equatable, CustomStringConvertible {
        /// The 16 digest bytes.
        public let bytes: [UInt8]
        /// The digest as 32 lowercase hexadecimal digits, the way checksums are published.
        public var hexDigest: String {
            let digits = Array("0123456789abcdef")
            return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
        }
        public var description: String { hexDigest }
    }

    /// Per-round left-rotation amounts.
    private static let shifts: [UInt32] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
        5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
        4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
        6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ]

    /// The constants T[i] = floor(|sin(i + 1)| · 2³²) of RFC 1321 §3.4.
    private static let sines: [UInt32] = (0..<64).map { UInt32(fabs(sin(Double($0 + 1))) * 4_294_967_296) }

    /// Mixes one 64-byte block into the state (RFC 1321 §3.4).
    private mutating func compress(_ block: UnsafeRawPointer) {
        func word(_ index: Int) -> UInt32 { UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4 &* index, as: UInt32.self)) }
        var (a, b, c, d) = state
        Self.shifts.withUnsafeBufferPointer { shifts in
            Self.sines.withUnsafeBufferPointer { sines in
                for round in 0..<64 {
                    let mixed: UInt32
                    let wordIndex: Int
                    switch round {
                    case 0..<16: mixed = (b & c) | (~b & d); wordIndex = round
                    case 16..<32: mixed = (d & b) | (~d & c); wordIndex = (5 &* round &+ 1) & 15
                    case 32..<48: mixed = b ^ c ^ d; wordIndex = (3 &* round &+ 5) & 15
                    default: mixed = c ^ (b | ~d); wordIndex = (7 &* round) & 15
                    }
                    let sum = a &+ mixed &+ sines[round] &+ word(wordIndex)
                    let shift = shifts[round]
                    (a, d, c) = (d, c, b)
                    b = b &+ (sum << shift | sum >> (32 &- shift))
                }
            }
        }
        state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d)
    }
}

/// Calls `body` with successive pieces (at most 1 MiB each) of the file at `path`.
func forEachChunk(ofFileAtPath path: String, _ body: ([UInt8]) throws -> Void) throws {
    func failure(_ message: String) -> DataFormatError { DataFormatError(source: path, message: message) }
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw failure("cannot open: \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let got = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
        if got < 0 && errno == EINTR { continue }
        guard got >= 0 else { throw failure("cannot read: \(String(cString: strerror(errno)))") }
        if got == 0 { return }
        try body(Array(buffer[..<got]))
    }
}
