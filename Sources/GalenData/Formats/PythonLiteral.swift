// The subset of Python literal syntax that an .npy header is written in: a dict with string keys
// whose values are strings, booleans, integers and tuples (`{'descr': '<f4', 'fortran_order':
// False, 'shape': (2, 3), }`). NumPy reads the header with `ast.literal_eval`; this parser accepts
// the same spellings NumPy's own writers have produced (either quote style, any spacing and key
// order, trailing commas, Python 2's `3L` integers) and rejects everything else with a message,
// never by crashing: nesting is capped so that a header of ten thousand `(` cannot exhaust the stack.

/// A parsed Python literal.
indirect enum PythonLiteral: Equatable, CustomStringConvertible {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case none
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    /// Key-value pairs in the order written.
    case dictionary([(key: PythonLiteral, value: PythonLiteral)])

    static func == (lhs: PythonLiteral, rhs: PythonLiteral) -> Bool {
        switch (lhs, rhs) {
        case let (.string(a), .string(b)): return a == b
        case let (.integer(a), .integer(b)): return a == b
        case let (.boolean(a), .boolean(b)): return a == b
        case (.none, .none): return true
        case let (.tuple(a), .tuple(b)), let (.list(a), .list(b)): return a == b
        case let (.dictionary(a), .dictionary(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// Python's `repr` of the value, for error messages.
    var description: String {
        switch self {
        case .string(let text): return "'\(text)'"
        case .integer(let value): return String(value)
        case .boolean(let value): return value ? "True" : "False"
        case .none: return "None"
        case .tuple(let items): return items.count == 1 ? "(\(items[0]),)" : "(\(items.map(\.description).joined(separator: ", ")))"
        case .list(let items): return "[\(items.map(\.description).joined(separator: ", "))]"
        case .dictionary(let pairs): return "{\(pairs.map { "\($0.key): \($0.value)" }.joined(separator: ", "))}"
        }
    }
}

/// Why a header is not a valid literal: the message and the byte offset where parsing stopped.
struct PythonLiteralError: Error {
    let message: String
    let offset: Int
}

/// A recursive-descent parser over the header's bytes.
struct PythonLiteralParser {
    /// Deeper nesting than any header needs; the cap keeps recursion bounded on hostile input.
    static let maximumDepth = 32

    private let bytes: [UInt8]
    private let decodeString: ([UInt8]) -> String
    private var position = 0

    /// Parses `bytes` as exactly one literal surrounded by optional whitespace. `decodeString`
    /// turns a string literal's bytes into text (Latin-1 for NPY 1.0/2.0 headers, UTF-8 for 3.0).
    static func parse(_ bytes: [UInt8], decodeString: @escaping ([UInt8]) -> String) throws(PythonLiteralError) -> PythonLiteral {
        var parser = PythonLiteralParser(bytes: bytes, decodeString: decodeString)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        if parser.position < bytes.count { throw parser.failure("unexpected text after the literal") }
        return value
    }

    private init(bytes: [UInt8], decodeString: @escaping ([UInt8]) -> String) {
        self.bytes = bytes
        self.decodeString = decodeString
    }

    private func failure(_ message: String) -> PythonLiteralError {
        PythonLiteralError(message: message, offset: position)
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
            || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
            position += 1
        }
    }

    private mutating func value(depth: Int) throws(PythonLiteralError) -> PythonLiteral {
        guard depth < Self.maximumDepth else { throw failure("nested more than \(Self.maximumDepth) levels deep") }
        skipWhitespace()
        guard let byte = current else { throw failure("the header ends where a value should start") }
        switch byte {
        case UInt8(ascii: "{"):
            return .dictionary(try dictionaryItems(depth: depth))
        case UInt8(ascii: "("):
            position += 1
            let (items, sawComma) = try sequenceItems(closing: UInt8(ascii: ")"), depth: depth)
            // `(5)` is a parenthesized 5, `(5,)` a one-element tuple.
            return items.count == 1 && !sawComma ? items[0] : .tuple(items)
        case UInt8(ascii: "["):
            position += 1
            return .list(try sequenceItems(closing: UInt8(ascii: "]"), depth: depth).items)
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            return .string(try stringLiteral())
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .integer(try integerLiteral())
        default:
            let word = identifier()
            switch word {
            case "True": return .boolean(true)
            case "False": return .boolean(false)
            case "None": return .none
            case "": throw failure("unexpected character \(describe(byte))")
            default: throw failure("unexpected name '\(word)'")
            }
        }
    }

    /// Items up to `closing` (the opening bracket already consumed), and whether any comma
    /// separated them (which makes a parenthesized single value a tuple).
    private mutating func sequenceItems(closing: UInt8, depth: Int) throws(PythonLiteralError) -> (items: [PythonLiteral], sawComma: Bool) {
        var items: [PythonLiteral] = []
        var sawComma = false
        while true {
            skipWhitespace()
            if current == closing {
                position += 1
                return (items, sawComma)
            }
            items.append(try value(depth: depth + 1))
            skipWhitespace()
            if current == UInt8(ascii: ",") {
                position += 1
                sawComma = true
            } else if current != closing {
                throw failure("expected ',' or \(describe(closing)) after an item")
            }
        }
    }

    private mutating func dictionaryItems(depth: Int) throws(PythonLiteralError) -> [(key: PythonLiteral, value: PythonLiteral)] {
        position += 1  // "{"
        var pairs: [(key: PythonLiteral, value: PythonLiteral)] = []
        while true {
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                position += 1
                return pairs
            }
            let key = try value(depth: depth + 1)
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw failure("expected ':' after the dictionary key \(key)") }
            position += 1
            let item = try value(depth: depth + 1)
            pairs.append((key, item))
            skipWhitespace()
            if current == UInt8(ascii: ",") {
                position += 1
            } else if current != UInt8(ascii: "}") {
                throw failure("expected ',' or '}' after the value of \(key)")
            }
        }
    }

    private mutating func stringLiteral() throws(PythonLiteralError) -> String {
        let quote = bytes[position]
        let start = position
        position += 1
        var content: [UInt8] = []
        while let byte = current {
            position += 1
            if byte == quote { return decodeString(content) }
            if byte == UInt8(ascii: "\n") { break }
            if byte == UInt8(ascii: "\\") {
                guard let escaped = current else { break }
                position += 1
                switch escaped {
                case UInt8(ascii: "n"): content.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "t"): content.append(UInt8(ascii: "\t"))
                case UInt8(ascii: "r"): content.append(UInt8(ascii: "\r"))
                case UInt8(ascii: "0"): content.append(0)
                default: content.append(escaped)  // \\, \', \" and anything else kept literally
                }
            } else {
                content.append(byte)
            }
        }
        position = start
        throw failure("unterminated string")
    }

    private mutating func integerLiteral() throws(PythonLiteralError) -> Int {
        let start = position
        var negative = false
        if current == UInt8(ascii: "-") || current == UInt8(ascii: "+") {
            negative = current == UInt8(ascii: "-")
            position += 1
        }
        var magnitude = 0
        var digits = 0
        while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            let (shifted, overflowA) = magnitude.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = shifted.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            if overflowA || overflowB {
                position = start
                throw failure("integer too large")
            }
            magnitude = next
            digits += 1
            position += 1
        }
        guard digits > 0 else { throw failure("expected digits after the sign") }
        // Python 2's long integers (`3L`), as NumPy wrote them in old headers.
        if current == UInt8(ascii: "L") || current == UInt8(ascii: "l") { position += 1 }
        if let byte = current, byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
            || byte == UInt8(ascii: "j") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "x") {
            throw failure("only decimal integers are expected in an NPY header")
        }
        return negative ? -magnitude : magnitude
    }

    private mutating func identifier() -> String {
        let start = position
        while let byte = current, (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || byte == UInt8(ascii: "_") {
            position += 1
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private func describe(_ byte: UInt8) -> String {
        (0x20..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "0x\(String(byte, radix: 16))"
    }
}
