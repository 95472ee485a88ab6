import CZlib
import Galen

/// A decoded PNG image.
///
/// Samples are kept as raw values: 0…2^bitDepth − 1 (0…255 for 8-bit, 0…65535 for 16-bit,
/// 0…1 for 1-bit gray), never rescaled to [0, 1], so label masks keep their exact values.
/// Palette images are expanded to RGB (or RGBA when a tRNS chunk is present) and report bit depth 8.
public struct PNGImage: Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
    public let channels: Int
    /// Bits per sample of `samples`: 1, 2, 4, 8 or 16.
    public let bitDepth: Int
    /// Samples in row-major, channel-interleaved order (H, W, C), as stored in the file.
    public let samples: [UInt16]

    /// Builds an image from interleaved (H, W, C) samples.
    public init(width: Int, height: Int, channels: Int, bitDepth: Int, samples: [UInt16]) {
        check(width * height * channels == samples.count, "PNGImage: \(samples.count) samples for \(width)×\(height)×\(channels)")
        self.width = width; self.height = height; self.channels = channels; self.bitDepth = bitDepth; self.samples = samples
    }

    /// The pixels as a Float32 tensor of shape [C, H, W] holding the raw sample values.
    public var tensor: Tensor {
        var values = [Float](repeating: 0, count: samples.count)
        let plane = width * height
        for p in 0..<plane {
            for c in 0..<channels { values[c * plane + p] = Float(samples[p * channels + c]) }
        }
        return Tensor(values, shape: [channels, height, width])
    }

    /// The raw samples (H, W, C interleaved) as bytes; nil for 16-bit images.
    public var rawUInt8: [UInt8]? { bitDepth <= 8 ? samples.map { UInt8($0) } : nil }
    /// The raw samples (H, W, C interleaved) as 16-bit values (any bit depth).
    public var rawUInt16: [UInt16] { samples }
}

/// PNG reading and writing (ISO/IEC 15948).
public enum PNG {
    /// The largest width × height × channels accepted, so a forged header cannot demand a huge allocation.
    public static let maximumSampleCount = 1 << 31

    static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]

    /// Reads the PNG file at `path`.
    public static func read(path: String) throws -> PNGImage {
        try decode(try readFileBytes(atPath: path), source: path)
    }

    /// Decodes PNG `bytes`; errors are `DataFormatError`s naming `source`.
    public static func decode(_ bytes: [UInt8], source: String = "<PNG bytes>") throws -> PNGImage {
        func failure(_ m: String) -> DataFormatError { DataFormatError(source: source, message: m) }
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else { throw failure("not a PNG file (bad signature)") }
        func be32(_ o: Int) -> UInt32 {
            UInt32(bytes[o]) << 24 | UInt32(bytes[o + 1]) << 16 | UInt32(bytes[o + 2]) << 8 | UInt32(bytes[o + 3])
        }
        var offset = 8
        var header: (w: Int, h: Int, depth: Int, type: Int, interlace: Int)?
        var palette: [UInt8] = []
        var transparency: [UInt8] = []
        var idat: [UInt8] = []
        var sawEnd = false
        while !sawEnd {
            guard offset + 12 <= bytes.count else { throw failure("file ends inside a chunk header at byte \(offset) (no IEND)") }
            let length = Int(be32(offset))
            let typeBytes = Array(bytes[offset + 4..<offset + 8])
            let type = String(decoding: typeBytes.map { (0x20...0x7e).contains($0) ? $0 : 0x3f }, as: UTF8.self)
            guard length <= Int(Int32.max), offset + 12 + length <= bytes.count else {
                throw failure("chunk \(type) at byte \(offset) declares \(length) bytes but the file ends first")
            }
            let dataStart = offset + 8
            let stored = be32(dataStart + length)
            let computed: UInt32 = bytes.withUnsafeBufferPointer { b in
                UInt32(crc32(0, b.baseAddress! + offset + 4, UInt32(length + 4)))
            }
            guard stored == computed else { throw failure("chunk \(type) has a bad CRC (stored \(stored), computed \(computed))") }
            let data = bytes[dataStart..<dataStart + length]
            if header == nil && type != "IHDR" { throw failure("first chunk is \(type), not IHDR") }
            switch type {
            case "IHDR":
                guard header == nil else { throw failure("second IHDR chunk") }
                guard length == 13 else { throw failure("IHDR has \(length) bytes, not 13") }
                let w = Int(be32(dataStart)), h = Int(be32(dataStart + 4))
                let depth = Int(bytes[dataStart + 8]), colour = Int(bytes[dataStart + 9])
                guard w > 0, h > 0, w <= Int(Int32.max), h <= Int(Int32.max) else { throw failure("IHDR: bad size \(w)×\(h)") }
                let allowed: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
                guard let depths = allowed[colour] else { throw failure("IHDR: unknown colour type \(colour)") }
                guard depths.contains(depth) else { throw failure("IHDR: bit depth \(depth) is not allowed for colour type \(colour)") }
                guard bytes[dataStart + 10] == 0 else { throw failure("IHDR: unknown compression method \(bytes[dataStart + 10])") }
                guard bytes[dataStart + 11] == 0 else { throw failure("IHDR: unknown filter method \(bytes[dataStart + 11])") }
                let interlace = Int(bytes[dataStart + 12])
                guard interlace == 0 else {
                    throw failure(interlace == 1 ? "IHDR: Adam7 interlacing is not supported" : "IHDR: unknown interlace method \(interlace)")
                }
                header = (w, h, depth, colour, interlace)
            case "PLTE":
                guard length % 3 == 0, length > 0, length <= 768 else { throw failure("PLTE has \(length) bytes") }
                palette = Array(data)
            case "tRNS": transparency = Array(data)
            case "IDAT": idat.append(contentsOf: data)
            case "IEND": sawEnd = true
            default:
                // Bit 5 of the first byte clear marks a critical chunk a decoder must understand.
                if typeBytes[0] & 0x20 == 0 { throw failure("unknown critical chunk \(type)") }
            }
            offset = dataStart + length + 4
        }
        guard let (width, height, depth, colour, _) = header else { throw failure("no IHDR chunk") }
        let fileChannels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colour]!
        if colour == 3 && palette.isEmpty { throw failure("palette image without a PLTE chunk") }
        guard idat.count > 0 else { throw failure("no IDAT chunk") }
        let bitsPerPixel = fileChannels * depth
        let (rowBits, o1) = width.multipliedReportingOverflow(by: bitsPerPixel)
        guard !o1 else { throw failure("image too large") }
        let rowBytes = (rowBits + 7) / 8
        let (rawCount, o2) = (rowBytes + 1).multipliedReportingOverflow(by: height)
        let outChannels = colour == 3 ? (transparency.isEmpty ? 3 : 4) : fileChannels
        let (sampleCount, o3) = (width * outChannels).multipliedReportingOverflow(by: height)
        guard !o2, !o3, sampleCount <= maximumSampleCount else {
            throw failure("\(width)×\(height)×\(outChannels) samples exceed the limit of \(maximumSampleCount)")
        }
        // Deflate expands at most about 1032:1, so a tiny IDAT cannot honestly hold a huge image.
        guard rawCount <= idat.count * 1040 + 1024 else {
            throw failure("IDAT has \(idat.count) bytes, too few for a \(width)×\(height) image")
        }
        var raw = try inflate(idat, format: .zlib, expectedSize: rawCount, source: source)
        let bpp = max(1, bitsPerPixel / 8)
        // Undo the per-row filters in place.
        try raw.withUnsafeMutableBufferPointer { r in
            for y in 0..<height {
                let start = y * (rowBytes + 1)
                let filter = r[start]
                let row = start + 1, prior = row - (rowBytes + 1)
                switch filter {
                case 0: break
                case 1: for i in bpp..<max(bpp, rowBytes) { r[row + i] &+= r[row + i - bpp] }
                case 2: if y > 0 { for i in 0..<rowBytes { r[row + i] &+= r[prior + i] } }
                case 3:
                    for i in 0..<rowBytes {
                        let a = i >= bpp ? Int(r[row + i - bpp]) : 0
                        let b = y > 0 ? Int(r[prior + i]) : 0
                        r[row + i] &+= UInt8((a + b) / 2)
                    }
                case 4:
                    for i in 0..<rowBytes {
                        let a = i >= bpp ? Int(r[row + i - bpp]) : 0
                        let b = y > 0 ? Int(r[prior + i]) : 0
                        let c = (i >= bpp && y > 0) ? Int(r[prior + i - bpp]) : 0
                        let p = a + b - c
                        let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                        let pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)
                        r[row + i] &+= UInt8(pred)
                    }
                default: throw failure("row \(y) has unknown filter type \(filter)")
                }
            }
        }
        var samples = [UInt16](repeating: 0, count: sampleCount)
        let perRow = width * fileChannels
        for y in 0..<height {
            let row = y * (rowBytes + 1) + 1
            for i in 0..<perRow {
                let v: UInt16
                switch depth {
                case 16: v = UInt16(raw[row + 2 * i]) << 8 | UInt16(raw[row + 2 * i + 1])
                case 8: v = UInt16(raw[row + i])
                default:
                    let bit = i * depth
                    let byte = raw[row + bit / 8]
                    let shift = 8 - depth - bit % 8
                    v = UInt16((byte >> UInt8(shift)) & UInt8((1 << depth) - 1))
                }
                if colour == 3 {
                    let index = Int(v)
                    guard index * 3 + 2 < palette.count else {
                        throw failure("pixel (\(i), \(y)) uses palette index \(index) beyond the \(palette.count / 3)-entry PLTE")
                    }
                    let o = (y * width + i) * outChannels
                    samples[o] = UInt16(palette[index * 3]); samples[o + 1] = UInt16(palette[index * 3 + 1])
                    samples[o + 2] = UInt16(palette[index * 3 + 2])
                    if outChannels == 4 { samples[o + 3] = index < transparency.count ? UInt16(transparency[index]) : 255 }
                } else {
                    samples[y * perRow + i] = v
                }
            }
        }
        return PNGImage(width: width, height: height, channels: outChannels, bitDepth: colour == 3 ? 8 : depth, samples: samples)
    }

    /// Encodes `image` (bit depth 8 or 16, 1–4 channels) as PNG bytes with filter type 0 on every row.
    public static func encode(_ image: PNGImage) -> [UInt8] {
        check(image.bitDepth == 8 || image.bitDepth == 16, "PNG.encode: bit depth must be 8 or 16, not \(image.bitDepth)")
        check((1...4).contains(image.channels), "PNG.encode: 1 to 4 channels, not \(image.channels)")
        let colour: UInt8 = [0, 4, 2, 6][image.channels - 1]
        let bytesPerSample = image.bitDepth / 8
        let rowBytes = image.width * image.channels * bytesPerSample
        var raw = [UInt8](repeating: 0, count: (rowBytes + 1) * image.height)
        let perRow = image.width * image.channels
        for y in 0..<image.height {
            let row = y * (rowBytes + 1) + 1
            for i in 0..<perRow {
                let v = image.samples[y * perRow + i]
                if bytesPerSample == 2 {
                    raw[row + 2 * i] = UInt8(v >> 8); raw[row + 2 * i + 1] = UInt8(v & 0xff)
                } else {
                    raw[row + i] = UInt8(min(v, 255))
                }
            }
        }
        func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }
        var out = signature
        func chunk(_ type: String, _ data: [UInt8]) {
            let body = Array(type.utf8) + data
            out += be32(UInt32(data.count)) + body
            out += be32(body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) })
        }
        chunk("IHDR", be32(UInt32(image.width)) + be32(UInt32(image.height)) + [UInt8(image.bitDepth), colour, 0, 0, 0])
        chunk("IDAT", deflate(raw, format: .zlib))
        chunk("IEND", [])
        return out
    }

    /// Writes `image` to `path` atomically (temporary file + rename).
    public static func write(_ image: PNGImage, path: String) throws {
        try writeFileBytes(encode(image), atPath: path)
    }

    /// Writes a [C, H, W] tensor (C = 1…4) as an 8- or 16-bit PNG. Values are raw sample values:
    /// they are rounded to the nearest integer and clamped to 0…255 (or 0…65535); NaN becomes 0.
    public static func write(_ tensor: Tensor, bitDepth: Int = 8, path: String) throws {
        try write(image(from: tensor, bitDepth: bitDepth), path: path)
    }

    /// Converts a [C, H, W] tensor to a `PNGImage` with the rounding and clamping of `write(_:bitDepth:path:)`.
    public static func image(from tensor: Tensor, bitDepth: Int = 8) -> PNGImage {
        check(tensor.rank == 3, "PNG: tensor must be [C, H, W], got \(tensor.shape)")
        check(bitDepth == 8 || bitDepth == 16, "PNG: bit depth must be 8 or 16")
        let c = tensor.shape[0], h = tensor.shape[1], w = tensor.shape[2]
        let values = tensor.scalars
        let top = Float(bitDepth == 8 ? 255 : 65535)
        var samples = [UInt16](repeating: 0, count: c * h * w)
        let plane = h * w
        for p in 0..<plane {
            for k in 0..<c {
                let v = values[k * plane + p]
                samples[p * c + k] = v.isNaN ? 0 : UInt16(min(max(v.rounded(), 0), top))
            }
        }
        return PNGImage(width: w, height: h, channels: c, bitDepth: bitDepth, samples: samples)
    }
}
