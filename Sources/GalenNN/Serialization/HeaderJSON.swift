// The JSON reader and writer for safetensors headers.
//
// Foundation's JSONSerialization is not used for reading because a header is untrusted input and
// it hides what the checks need: it drops duplicate keys, forgets key order, cannot tell `1` from
// `1.0`, and recurses without a limit, so a header of a million '[' would overflow the stack.
// This parser is strict RFC 8259 JSON over bytes that were already checked to be UTF-8.

/// A parsed JSON value. Objects keep their keys in document order, duplicates included, so the
/// caller can reject duplicates with a message naming them.
enum JSONValue {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// A number written without fraction or exponent that fits in `Int`.
    case integer(Int)
    /// Any other number, as written (fractions, exponents, out-of-range integers, `-0`).
    case number(String)
    case bool(Bool)
    case null

    /// How the value reads in an error message: its kind, plus the value when it is short.
    var summary: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string(let text): return text.count <= 40 ? "the string \"\(text)\"" : "a string"
        case .integer(let value): return "the integer \(value)"
        case .number(let text): return "the number \(text)"
        case .bool(let value): return "\(value)"
        case .null: return "null"
        }
    }
}

/// A JSON syntax error: what was expected and the byte offset (within the JSON text) where not.
struct JSONSyntaxError: Error {
    let message: String
    let offset: Int
}

/// A recursive-descent parser over a byte buffer that the caller keeps alive while it runs.
struct JSONParser {
    /// Deeper nesting of objects and arrays is refused rather than recursed into. serde_json,
    /// which the reference implementation uses, allows the same 127 levels; a safetensors header
    /// needs 3.
    static let maximumDepth = 127

    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    private var depth = 0

    /// Parses `bytes` as one JSON value with optional surrounding whitespace.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        if parser.position < bytes.count {
            throw parser.error("unexpected \(parser.describeCurrent()) after the end of the JSON value")
        }
        return value
    }

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    private func error(_ message: String) -> JSONSyntaxError {
        JSONSyntaxError(message: message, offset: position)
    }

    private func describeCurrent() -> String {
        guard position < bytes.count else { return "end of text" }
        let byte = bytes[position]
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(String(byte, radix: 16, uppercase: true))"
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(JSONSyntaxError) {
        guard position < bytes.count, bytes[position] == byte else {
            throw error("expected \(what), found \(describeCurrent())")
        }
        position += 1
    }

    private mutating func parseValue() throws(JSONSyntaxError) -> JSONValue {
        guard position < bytes.count else { throw error("expected a value, found end of text") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try parseLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try parseLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try parseLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("expected a value, found \(describeCurrent())")
        }
    }

    private mutating func parseLiteral(_ word: StaticString) throws(JSONSyntaxError) {
        let length = word.utf8CodeUnitCount
        guard position + length <= bytes.count else { throw error("expected a value, found \(describeCurrent())") }
        for index in 0..<length where bytes[position + index] != word.utf8Start[index] {
            throw error("expected a value, found \(describeCurrent())")
        }
        position += length
    }

    private mutating func enterNesting() throws(JSONSyntaxError) {
        depth += 1
        if depth > Self.maximumDepth {
            throw error("values nested more than \(Self.maximumDepth) deep")
        }
    }

    private mutating func parseObject() throws(JSONSyntaxError) -> JSONValue {
        try enterNesting()
        position += 1  // '{'
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
            position += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("expected a string key, found \(describeCurrent())")
            }
            let key = try parseString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "':' after an object key")
            skipWhitespace()
            members.append((key, try parseValue()))
            skipWhitespace()
            guard position < bytes.count else { throw error("expected ',' or '}', found end of text") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else {
                try expect(UInt8(ascii: "}"), "',' or '}' in an object")
                depth -= 1
                return .object(members)
            }
        }
    }

    private mutating func parseArray() throws(JSONSyntaxError) -> JSONValue {
        try enterNesting()
        position += 1  // '['
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
            position += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard position < bytes.count else { throw error("expected ',' or ']', found end of text") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else {
                try expect(UInt8(ascii: "]"), "',' or ']' in an array")
                depth -= 1
                return .array(elements)
            }
        }
    }

    /// Parses a string literal starting at its opening quote.
    private mutating func parseString() throws(JSONSyntaxError) -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: most names have no escapes and decode straight from the buffer.
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
                position += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error("unescaped control character in a string") }
            position += 1
        }
        var utf8 = Array(bytes[start..<position])
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try parseEscape(into: &utf8)
            case 0..<0x20:
                position -= 1
                throw error("unescaped control character in a string")
            default:
                utf8.append(byte)
            }
        }
        throw error("unterminated string")
    }

    /// Decodes the escape after a backslash and appends its UTF-8 encoding.
    private mutating func parseEscape(into utf8: inout [UInt8]) throws(JSONSyntaxError) {
        guard position < bytes.count else { throw error("unterminated string") }
        let byte = bytes[position]
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var value = try parseHex4()
            if (0xD800..<0xDC00).contains(value) {
                // A high surrogate must be followed by an escaped low surrogate; together they
                // name one scalar beyond the Basic Multilingual Plane.
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                else { throw error("unpaired surrogate in a \\u escape") }
                position += 2
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in a \\u escape") }
                value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(value) {
                throw error("unpaired surrogate in a \\u escape")
            }
            // Not a surrogate (excluded above), so always a valid scalar.
            let scalar = Unicode.Scalar(value)!
            UTF8.encode(scalar) { utf8.append($0) }
        default:
            position -= 1
            throw error("invalid escape '\\\(Character(Unicode.Scalar(byte)))' in a string")
        }
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("incomplete \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in a \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    private func isDigit(_ index: Int) -> Bool {
        index < bytes.count && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9")
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = position
        let negative = bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        guard isDigit(position) else { throw error("expected a digit in a number") }
        // Accumulate the integer part (negated when negative so that Int.min fits), noting overflow.
        var value = 0
        var fits = true
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if isDigit(position) { throw error("leading zero in a number") }
        } else {
            while isDigit(position) {
                let digit = Int(bytes[position] - UInt8(ascii: "0"))
                if fits {
                    let (scaled, overflow1) = value.multipliedReportingOverflow(by: 10)
                    let (next, overflow2) =
                        negative ? scaled.subtractingReportingOverflow(digit) : scaled.addingReportingOverflow(digit)
                    fits = !overflow1 && !overflow2
                    value = next
                }
                position += 1
            }
        }
        var isInteger = true
        if position < bytes.count && bytes[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard isDigit(position) else { throw error("expected a digit after the decimal point") }
            while isDigit(position) { position += 1 }
        }
        if position < bytes.count && (bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E")) {
            isInteger = false
            position += 1
            if position < bytes.count && (bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")) {
                position += 1
            }
            guard isDigit(position) else { throw error("expected a digit in an exponent") }
            while isDigit(position) { position += 1 }
        }
        // `-0` is kept as written, as serde_json reads it as a float: not a valid dimension.
        if isInteger && fits && !(negative && value == 0) { return .integer(value) }
        return .number(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self))
    }
}

/// Writing, with serde_json's compact layout and escaping so that a header Galen writes is
/// byte-identical to the one the reference implementation writes for the same tensors.
enum JSONWriter {
    /// Appends `text` as a JSON string literal.
    static func appendString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): output.append(contentsOf: [0x5C, 0x5C])
            case 0x08: output.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                output.append(contentsOf: Array("\\u00".utf8))
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0xF)])
            default:
                // Multi-byte UTF-8 sequences are written raw, as serde_json does.
                output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Appends a list of integers as a compact JSON array, e.g. `[2,3]`.
    static func appendIntegers(_ values: [Int], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            output.append(contentsOf: Array(String(value).utf8))
        }
        output.append(UInt8(ascii: "]"))
    }
}
