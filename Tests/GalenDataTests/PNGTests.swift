import Foundation
import Galen
@testable import GalenData
import Testing

// PNG decoding against samples recorded by Scripts/fixtures/image_cases.py (every colour type,
// bit depth and filter type), the bundled BBBC039 masks against Pillow, writing, and malformed input.

struct ImageCase: Decodable, CustomTestStringConvertible {
    let file: String
    let width: Int
    let height: Int
    let channels: Int
    let bitDepth: Int
    let samples: [Double]
    var testDescription: String { file }
}

struct BBBC039Case: Decodable {
    let image: String
    let mask: String
    let imageShape: [Int]
    let imageSum: Int
    let imageMin: Int
    let imageMax: Int
    let imagePixels: [[Int]]
    let maskShape: [Int]
    let maskSum: Int
    let maskDistinctChannel0: Int
    let maskDistinctPixels: Int
    let maskPixels: [[Int]]
}

struct ImageCases: Decodable {
    let png: [ImageCase]
    let tiff: [ImageCase]
    let bbbc039: [BBBC039Case]
    static let shared: ImageCases = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: fixturePath("images/image_cases.json")))
        return try! JSONDecoder().decode(ImageCases.self, from: data)
    }()
}

@Suite struct PNGTests {
    @Test(arguments: ImageCases.shared.png)
    func decodesFixture(_ expected: ImageCase) throws {
        let image = try PNG.read(path: fixturePath(expected.file))
        #expect(image.width == expected.width)
        #expect(image.height == expected.height)
        #expect(image.channels == expected.channels)
        #expect(image.bitDepth == expected.bitDepth)
        #expect(image.samples.map(Double.init) == expected.samples)
        let t = image.tensor
        #expect(t.shape == [expected.channels, expected.height, expected.width])
        // [C, H, W] element (c, y, x) is interleaved sample (y, x, c).
        let plane = expected.width * expected.height
        let values = t.scalars
        for p in stride(from: 0, to: plane, by: 3) {
            for c in 0..<expected.channels {
                #expect(Double(values[c * plane + p]) == expected.samples[p * expected.channels + c])
            }
        }
    }

    @Test func bbbc039MasksMatchPillow() throws {
        for expected in ImageCases.shared.bbbc039 {
            let mask = try PNG.read(path: repositoryRoot.appendingPathComponent(expected.mask).path)
            #expect([mask.height, mask.width, mask.channels] == expected.maskShape)
            #expect(mask.samples.reduce(0) { $0 + Int($1) } == expected.maskSum)
            var first = Set<UInt16>(), pixels = Set<[UInt16]>()
            for p in 0..<(mask.width * mask.height) {
                first.insert(mask.samples[p * mask.channels])
                pixels.insert(Array(mask.samples[p * mask.channels..<(p + 1) * mask.channels]))
            }
            #expect(first.count == expected.maskDistinctChannel0)
            #expect(pixels.count == expected.maskDistinctPixels)
            for px in expected.maskPixels {
                let o = (px[0] * mask.width + px[1]) * mask.channels
                #expect(mask.samples[o..<o + mask.channels].map(Int.init) == Array(px[2...]))
            }
        }
    }

    @Test(arguments: [(1, 8), (2, 8), (3, 8), (4, 8), (1, 16), (2, 16), (3, 16), (4, 16)])
    func writeReadRoundTrip(channels: Int, bitDepth: Int) throws {
        let (w, h) = (5, 3)
        let top = bitDepth == 8 ? 255 : 65535
        let samples = (0..<(w * h * channels)).map { UInt16(($0 * 7919) % (top + 1)) }
        let image = PNGImage(width: w, height: h, channels: channels, bitDepth: bitDepth, samples: samples)
        let back = try PNG.decode(PNG.encode(image))
        #expect(back.samples == samples && back.channels == channels && back.bitDepth == bitDepth)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("galen-png-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("x.png").path
        try PNG.write(image.tensor, bitDepth: bitDepth, path: path)
        #expect(try PNG.read(path: path).samples == samples)
    }

    @Test func tensorWriteRoundsAndClamps() throws {
        let t = Tensor([-3, 0.4, 0.6, 254.5, 300, .nan], shape: [1, 2, 3])
        #expect(PNG.image(from: t).samples == [0, 0, 1, 255, 255, 0])
    }

    /// The committed Galen-written PNG (Scripts/fixtures/image_cases.py checks that Pillow reads
    /// it) decodes to the samples it was written from, and today's encoder still produces a PNG
    /// with those samples.
    @Test func galenWrittenFixture() throws {
        let image = PNGImage(width: 4, height: 3, channels: 3, bitDepth: 8,
                             samples: (0..<36).map { UInt16(($0 * 20) % 256) })
        #expect(try PNG.read(path: fixturePath("images/galen_written.png")).samples == image.samples)
        #expect(try PNG.decode(PNG.encode(image)).samples == image.samples)
    }

    // MARK: malformed input

    static func small() -> [UInt8] {
        PNG.encode(PNGImage(width: 3, height: 2, channels: 1, bitDepth: 8, samples: [1, 2, 3, 4, 5, 6]))
    }

    static func withChunk(ihdr: [UInt8]? = nil, idatRaw: [UInt8]? = nil) -> [UInt8] {
        func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            let crc = body.withUnsafeBufferPointer { UInt32(crc32Bytes($0)) }
            return be32(UInt32(data.count)) + body + be32(crc)
        }
        let header = ihdr ?? (be32(3) + be32(2) + [8, 0, 0, 0, 0])
        let raw = idatRaw ?? [0, 1, 2, 3, 0, 4, 5, 6]
        return PNG.signature + chunk("IHDR", header) + chunk("IDAT", deflate(raw, format: .zlib)) + chunk("IEND", [])
    }

    @Test func everyTruncationThrows() {
        let bytes = Self.small()
        for n in 0..<bytes.count {
            #expect(throws: DataFormatError.self) { try PNG.decode(Array(bytes[0..<n]), source: "cut.png") }
        }
        do {
            _ = try PNG.decode(Array(bytes[0..<20]), source: "cut.png")
        } catch let error as DataFormatError {
            #expect(error.source == "cut.png")
        } catch { Issue.record("wrong error \(error)") }
    }

    @Test func badCRCNamesTheChunk() {
        var bytes = Self.small()
        bytes[8 + 8 + 2] ^= 1 // a byte of the IHDR data
        do {
            _ = try PNG.decode(bytes, source: "crc.png")
            Issue.record("no error")
        } catch let error as DataFormatError {
            #expect(error.source == "crc.png" && error.message.contains("IHDR") && error.message.contains("CRC"))
        } catch { Issue.record("wrong error \(error)") }
    }

    @Test func badHeadersAndShortData() {
        let zeroWidth: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 2, 8, 0, 0, 0, 0]
        let badDepth: [UInt8] = [0, 0, 0, 3, 0, 0, 0, 2, 4, 2, 0, 0, 0] // 4-bit RGB
        let huge: [UInt8] = [0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 16, 6, 0, 0, 0]
        let cases: [[UInt8]] = [Self.withChunk(ihdr: zeroWidth), Self.withChunk(ihdr: badDepth), Self.withChunk(ihdr: huge),
                                Self.withChunk(idatRaw: [0, 1, 2, 3, 0, 4]), Self.withChunk(idatRaw: [0, 1, 2, 3, 9, 4, 5, 6])]
        for bytes in cases {
            #expect(throws: DataFormatError.self) { try PNG.decode(bytes, source: "bad.png") }
        }
        #expect(throws: DataFormatError.self) { try PNG.read(path: "/nonexistent/x.png") }
        #expect((try? PNG.decode(Self.withChunk())).map(\.samples) == [1, 2, 3, 4, 5, 6])
    }
}

func crc32Bytes(_ b: UnsafeBufferPointer<UInt8>) -> UInt32 {
    // Bitwise CRC-32 (polynomial 0xEDB88320), independent of the zlib one the decoder uses.
    var crc: UInt32 = 0xffff_ffff
    for byte in b {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}
