import Foundation
import Galen

// WFDB annotation files in MIT format (e.g. .atr), written from the annotation(5) manual page:
// 16-bit little-endian words, 6-bit code in the high bits, 10-bit time delta in the low bits;
// codes 59–63 are pseudo-annotations (SKIP, NUM, SUB, CHN, AUX) that modify the stream or the
// annotation just read.

/// One annotation of a WFDB annotation file.
public struct WFDBAnnotation: Sendable, Equatable {
    /// Sample index (time) of the annotation.
    public var sample: Int
    /// The annotation code (1–49).
    public var code: Int
    /// WFDB's mnemonic for the code, e.g. `N`, `V`, `+`.
    public var symbol: String
    /// Subtype (SUB pseudo-annotation), 0 by default.
    public var subtype: Int
    /// Channel (CHN pseudo-annotation; carried over from the previous annotation).
    public var channel: Int
    /// Number field (NUM pseudo-annotation; carried over from the previous annotation).
    public var num: Int
    /// Auxiliary note, e.g. `(N` for a rhythm change; empty when none. Trailing NULs are dropped.
    public var aux: String
}

/// The annotations of one WFDB annotation file (MIT format).
public struct WFDBAnnotations: Sendable {
    /// The annotations in file order.
    public let annotations: [WFDBAnnotation]

    /// WFDB's standard mnemonics by code (ecgcodes.h); unused codes map to `[code]`.
    public static let symbols: [String] = {
        var table = (0..<64).map { "[\($0)]" }
        let known: [Int: String] = [
            0: " ", 1: "N", 2: "L", 3: "R", 4: "a", 5: "V", 6: "F", 7: "J", 8: "A", 9: "S", 10: "E",
            11: "j", 12: "/", 13: "Q", 14: "~", 16: "|", 18: "s", 19: "T", 20: "*", 21: "D", 22: "\"",
            23: "=", 24: "p", 25: "B", 26: "^", 27: "t", 28: "+", 29: "u", 30: "?", 31: "!", 32: "[",
            33: "]", 34: "e", 35: "n", 36: "@", 37: "x", 38: "f", 39: "(", 40: ")", 41: "r",
        ]
        for (code, symbol) in known { table[code] = symbol }
        return table
    }()

    /// Codes of beat annotations (WFDB's `isqrs`).
    public static let beatCodes: Set<Int> = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 25, 30, 34, 35, 38]

    /// Reads the annotation file at `path`.
    public init(contentsOf path: String) throws {
        try self.init(bytes: readFileBytes(atPath: path), source: path)
    }

    /// Parses annotation bytes; `source` names the data in errors.
    public init(bytes: [UInt8], source: String) throws {
        var result: [WFDBAnnotation] = []
        var time = 0, channel = 0, num = 0
        var i = 0
        let n = bytes.count
        func fail(_ message: String) -> DataFormatError {
            DataFormatError(source: source, message: "byte \(i): \(message)")
        }
        while true {
            guard i + 2 <= n else {
                // A file without the terminating zero word is cut short.
                throw fail(i == n ? "missing end-of-file word (file truncated?)" : "truncated annotation word")
            }
            let word = Int(bytes[i]) | Int(bytes[i + 1]) << 8
            let code = word >> 10, delta = word & 0x3FF
            if word == 0 { break }
            i += 2
            switch code {
            case 59: // SKIP: a 32-bit interval follows, high 16-bit word first (PDP-11 order).
                guard i + 4 <= n else { throw fail("truncated SKIP interval") }
                let high = Int(bytes[i]) | Int(bytes[i + 1]) << 8
                let low = Int(bytes[i + 2]) | Int(bytes[i + 3]) << 8
                time += Int(Int32(bitPattern: UInt32(high << 16 | low)))
                i += 4
            case 60: // NUM: persists for following annotations.
                num = delta >= 512 ? delta - 1024 : delta
                if !result.isEmpty { result[result.count - 1].num = num }
            case 61:
                guard !result.isEmpty else { throw fail("SUB before any annotation") }
                result[result.count - 1].subtype = delta >= 512 ? delta - 1024 : delta
            case 62:
                channel = delta
                if !result.isEmpty { result[result.count - 1].channel = channel }
            case 63: // AUX: `delta` bytes of text, padded to an even length.
                let padded = delta + (delta & 1)
                guard i + padded <= n else { throw fail("truncated AUX string of \(delta) bytes") }
                guard !result.isEmpty else { throw fail("AUX before any annotation") }
                var text = Array(bytes[i..<(i + delta)])
                while text.last == 0 { text.removeLast() }
                result[result.count - 1].aux = String(decoding: text, as: UTF8.self)
                i += padded
            default:
                guard code >= 1, code <= 49 else { throw fail("annotation code \(code) is not valid") }
                time += delta
                result.append(WFDBAnnotation(
                    sample: time, code: code, symbol: Self.symbols[code], subtype: 0, channel: channel, num: num, aux: ""))
            }
        }
        annotations = result
    }

    /// Annotation counts per symbol.
    public var countsBySymbol: [String: Int] {
        annotations.reduce(into: [:]) { $0[$1.symbol, default: 0] += 1 }
    }

    /// Only the beat annotations (N, L, R, A, V, …), in order.
    public var beats: [WFDBAnnotation] { annotations.filter { Self.beatCodes.contains($0.code) } }
}
