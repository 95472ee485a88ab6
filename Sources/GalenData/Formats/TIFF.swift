import Galen

/// The first image of a TIFF file.
///
/// Samples keep their stored values (0…255, 0…65535, or the floats of a 32-bit float file).
public struct TIFFImage: Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Samples per pixel (1 gray, 3 RGB, …).
    public let channels: Int
    /// Bits per sample: 8, 16 or 32.
    public let bitDepth: Int
    /// True for IEEE float samples (SampleFormat 3).
    public let isFloat: Bool
    /// Samples in (H, W, C) order, converted to Float (exact for 8/16-bit integers).
    public let samples: [Float]

    /// The pixels as a Float32 tensor of shape [C, H, W] holding the raw sample values.
    public var tensor: Tensor {
        var values = [Float](repeating: 0, count: samples.count)
        let plane = width * height
        for p in 0..<plane { for c in 0..<channels { values[c * plane + p] = samples[p * channels + c] } }
        return Tensor(values, shape: [channels, height, width])
    }

    /// The raw samples (H, W, C) as 16-bit integers; nil for float images.
    public var rawUInt16: [UInt16]? { isFloat ? nil : samples.map { UInt16($0) } }
    /// The raw samples (H, W, C) as bytes; nil unless the image is 8-bit integer.
    public var rawUInt8: [UInt8]? { (!isFloat && bitDepth == 8) ? samples.map { UInt8($0) } : nil }
}

/// Baseline TIFF 6.0 reading: the first IFD, uncompressed (1), PackBits (32773) or
/// deflate (8 / 32946), chunky (PlanarConfiguration 1), 8/16-bit unsigned or 32-bit float
/// samples, strips or tiles, little- or big-endian. Anything else throws naming the tag.
public enum TIFF {
    /// The largest width × height × channels accepted.
    public static let maximumSampleCount = 1 << 31

    /// Reads the first image of the TIFF file at `path`.
    public static func read(path: String) throws -> TIFFImage {
        try decode(try readFileBytes(atPath: path), source: path)
    }

    /// Decodes the first image of TIFF `bytes`; errors are `DataFormatError`s naming `source`.
    public static func decode(_ bytes: [UInt8], source: String = "<TIFF bytes>") throws -> TIFFImage {
        func failure(_ m: String) -> DataFormatError { DataFormatError(source: source, message: m) }
        guard bytes.count >= 8 else { throw failure("file too short for a TIFF header") }
        let little: Bool
        switch (bytes[0], bytes[1]) {
        case (0x49, 0x49): little = true
        case (0x4d, 0x4d): little = false
        default: throw failure("not a TIFF file (bad byte-order mark)")
        }
        func u16(_ o: Int) throws -> Int {
            guard o >= 0, o + 2 <= bytes.count else { throw failure("offset \(o) is outside the file (\(bytes.count) bytes)") }
            return little ? Int(bytes[o]) | Int(bytes[o + 1]) << 8 : Int(bytes[o]) << 8 | Int(bytes[o + 1])
        }
        func u32(_ o: Int) throws -> Int {
            guard o >= 0, o + 4 <= bytes.count else { throw failure("offset \(o) is outside the file (\(bytes.count) bytes)") }
            let b = (Int(bytes[o]), Int(bytes[o + 1]), Int(bytes[o + 2]), Int(bytes[o + 3]))
            return little ? b.0 | b.1 << 8 | b.2 << 16 | b.3 << 24 : b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3
        }
        let magic = try u16(2)
        if magic == 43 { throw failure("BigTIFF is not supported") }
        guard magic == 42 else { throw failure("not a TIFF file (magic \(magic))") }
        let ifd = try u32(4)
        let entryCount = try u16(ifd)
        guard ifd + 2 + entryCount * 12 <= bytes.count else { throw failure("IFD at \(ifd) with \(entryCount) entries runs past the end of the file") }
        var tags: [Int: [Int]] = [:]
        for e in 0..<entryCount {
            let o = ifd + 2 + e * 12
            let tag = try u16(o), type = try u16(o + 2), count = try u32(o + 4)
            let size: Int
            switch type {
            case 1, 2, 6, 7: size = 1
            case 3, 8: size = 2
            case 4, 9: size = 4
            default: continue // rationals, doubles, …: not needed for the baseline fields read here
            }
            guard count <= bytes.count else { throw failure("tag \(tag) declares \(count) values, more than the file holds") }
            let total = size * count
            let base = total <= 4 ? o + 8 : try u32(o + 8)
            guard base + total <= bytes.count else { throw failure("tag \(tag) values at offset \(base) are outside the file") }
            var values: [Int] = []
            values.reserveCapacity(count)
            for i in 0..<count {
                switch size {
                case 1: values.append(Int(bytes[base + i]))
                case 2: values.append(try u16(base + 2 * i))
                default: values.append(try u32(base + 4 * i))
                }
            }
            tags[tag] = values
        }
        func one(_ tag: Int, _ name: String, default value: Int? = nil) throws -> Int {
            if let v = tags[tag]?.first { return v }
            if let value { return value }
            throw failure("missing required tag \(name) (\(tag))")
        }
        let width = try one(256, "ImageWidth"), height = try one(257, "ImageLength")
        let channels = try one(277, "SamplesPerPixel", default: 1)
        let bitsList = tags[258] ?? [1]
        guard let bits = bitsList.first else { throw failure("BitsPerSample (258) has no values") }
        guard bitsList.allSatisfy({ $0 == bits }) else { throw failure("BitsPerSample (258) differs between samples: \(bitsList)") }
        let compression = try one(259, "Compression", default: 1)
        let planar = try one(284, "PlanarConfiguration", default: 1)
        let sampleFormat = try one(339, "SampleFormat", default: 1)
        let predictor = try one(317, "Predictor", default: 1)
        guard width > 0, height > 0, channels > 0 else { throw failure("bad image size \(width)×\(height)×\(channels)") }
        // SamplesPerPixel is a SHORT in the specification; the bound keeps the size products below in range.
        guard channels <= 0xFFFF else { throw failure("SamplesPerPixel (277) = \(channels) is out of range") }
        guard [1, 8, 32946, 32773].contains(compression) else {
            throw failure("Compression (259) = \(compression) is not supported (only 1 none, 8/32946 deflate, 32773 PackBits)")
        }
        guard predictor == 1 else { throw failure("Predictor (317) = \(predictor) is not supported") }
        guard planar == 1 else { throw failure("PlanarConfiguration (284) = \(planar) is not supported (only chunky, 1)") }
        let isFloat: Bool
        switch (sampleFormat, bits) {
        case (1, 8), (1, 16): isFloat = false
        case (3, 32): isFloat = true
        default: throw failure("BitsPerSample (258) = \(bits) with SampleFormat (339) = \(sampleFormat) is not supported")
        }
        let (sampleCount, overflow) = (width * channels).multipliedReportingOverflow(by: height)
        guard !overflow, sampleCount <= maximumSampleCount else { throw failure("\(width)×\(height)×\(channels) samples exceed the limit") }
        let bytesPerSample = bits / 8
        let pixelBytes = channels * bytesPerSample

        // Strips are tiles as wide as the image.
        let tiled = tags[322] != nil
        let tileW = tiled ? try one(322, "TileWidth") : width
        let tileH = tiled ? try one(323, "TileLength") : min(try one(278, "RowsPerStrip", default: height), height)
        guard tileW > 0, tileH > 0, tileW <= 1 << 20, tileH <= 1 << 20 else { throw failure("bad tile/strip size \(tileW)×\(tileH)") }
        let offsets = tiled ? (tags[324] ?? []) : (tags[273] ?? [])
        let counts = tiled ? (tags[325] ?? []) : (tags[279] ?? [])
        let across = (width + tileW - 1) / tileW, down = (height + tileH - 1) / tileH
        guard offsets.count >= across * down else {
            throw failure("\(tiled ? "TileOffsets (324)" : "StripOffsets (273)") has \(offsets.count) entries, need \(across * down)")
        }
        guard compression == 1 || counts.count >= across * down else {
            throw failure("\(tiled ? "TileByteCounts (325)" : "StripByteCounts (279)") has \(counts.count) entries, need \(across * down)")
        }
        // Uncompressed data must actually be in the file before the output is allocated.
        if compression == 1 {
            for t in 0..<(across * down) {
                let rows = tiled ? tileH : min(tileH, height - (t / across) * tileH)
                let need = (tiled ? tileW : width) * rows * pixelBytes
                guard offsets[t] >= 0, offsets[t] + need <= bytes.count else {
                    throw failure("\(tiled ? "tile" : "strip") \(t) at offset \(offsets[t]) (\(need) bytes) is outside the file")
                }
            }
        }
        // A compressed tile cannot expand past the format's ratio (deflate: 1032 to 1, PackBits: 64 to 1), so
        // one whose byte count is too small is refused before the output is allocated: a small file cannot
        // make the decoder reserve gigabytes for samples it will never fill.
        if compression != 1 {
            let ratio = compression == 32773 ? 64 : 1032
            for t in 0..<(across * down) {
                let rows = tiled ? tileH : min(tileH, height - (t / across) * tileH)
                let need = (tiled ? tileW : width) * rows * pixelBytes
                guard counts[t] * ratio + 64 >= need else {  // counts are at most 2^32 − 1: no overflow
                    throw failure("\(tiled ? "tile" : "strip") \(t) has \(counts[t]) compressed bytes, too few for \(need) bytes")
                }
            }
        }
        var samples = [Float](repeating: 0, count: sampleCount)
        for t in 0..<(across * down) {
            let tx = t % across, ty = t / across
            let rows = tiled ? tileH : min(tileH, height - ty * tileH)
            let chunkW = tiled ? tileW : width
            let need = chunkW * rows * pixelBytes
            let start = offsets[t]
            var data: ArraySlice<UInt8>
            switch compression {
            case 1:
                data = bytes[start..<start + need]
            default:
                let count = counts[t]
                guard start >= 0, count >= 0, start + count <= bytes.count else {
                    throw failure("\(tiled ? "tile" : "strip") \(t) at offset \(start) (\(count) bytes) is outside the file")
                }
                let packed = Array(bytes[start..<start + count])
                let unpacked = compression == 32773
                    ? try unpackBits(packed, expected: need, source: source)
                    : try inflate(packed, format: .zlib, expectedSize: need, source: source)
                data = unpacked[...]
            }
            let base = data.startIndex
            for r in 0..<rows {
                let y = ty * tileH + r
                if y >= height { break }
                for cx in 0..<chunkW {
                    let x = tx * tileW + cx
                    if x >= width { break }
                    for c in 0..<channels {
                        let o = base + ((r * chunkW + cx) * channels + c) * bytesPerSample
                        let v: Float
                        switch bits {
                        case 8: v = Float(data[o])
                        case 16:
                            v = Float(little ? UInt16(data[o]) | UInt16(data[o + 1]) << 8 : UInt16(data[o]) << 8 | UInt16(data[o + 1]))
                        default:
                            let b = (UInt32(data[o]), UInt32(data[o + 1]), UInt32(data[o + 2]), UInt32(data[o + 3]))
                            v = Float(bitPattern: little ? b.0 | b.1 << 8 | b.2 << 16 | b.3 << 24 : b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3)
                        }
                        samples[(y * width + x) * channels + c] = v
                    }
                }
            }
        }
        return TIFFImage(width: width, height: height, channels: channels, bitDepth: bits, isFloat: isFloat, samples: samples)
    }

    /// PackBits (TIFF compression 32773): a signed count byte n, then n+1 literal bytes (n ≥ 0) or
    /// one byte repeated 1−n times (n < 0); −128 is a no-op.
    static func unpackBits(_ input: [UInt8], expected: Int, source: String) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(min(expected, 64 * input.count))  // PackBits expands at most 64 to 1
        var i = 0
        while out.count < expected && i < input.count {
            let n = Int(Int8(bitPattern: input[i])); i += 1
            if n >= 0 {
                guard i + n + 1 <= input.count else { break }
                out.append(contentsOf: input[i..<i + n + 1]); i += n + 1
            } else if n != -128 {
                guard i < input.count else { break }
                out.append(contentsOf: repeatElement(input[i], count: 1 - n)); i += 1
            }
        }
        guard out.count >= expected else {
            throw DataFormatError(source: source, message: "PackBits data unpacks to \(out.count) bytes, expected \(expected)")
        }
        return Array(out[0..<expected])
    }
}
