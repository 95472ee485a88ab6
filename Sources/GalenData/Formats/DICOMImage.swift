import Foundation
import Galen

// DICOM images: Pixel Data decoded to Float32 modality values plus the geometry and display
// metadata an analysis needs. The pixel pipeline follows PS3.3 C.7.6.3 and C.11 and gives the
// values pydicom's `apply_modality_lut(ds.pixel_array, ds)` gives:
//   samples (Bits Allocated 8/16/32) → low Bits Stored bits, sign-extended when Pixel
//   Representation is 1 → YBR_FULL / YBR_FULL_422 converted to RGB → Rescale Slope/Intercept (or
//   the Modality LUT Sequence) for single-sample images.
// MONOCHROME1 is *not* inverted in the modality values (its values keep their physical meaning,
// e.g. Hounsfield units); `windowed` inverts after the VOI window, where the standard's display
// pipeline puts the inversion.

/// The metadata of a DICOM image: geometry, pixel format and display hints. No patient-identifying
/// fields (name, ID, birth date) are copied here; they stay reachable through `DICOMImage.dataSet`.
public struct DICOMImageMetadata: Sendable, CustomStringConvertible {
    public var transferSyntax: DICOMTransferSyntax
    public var sopClassUID: String?
    public var modality: String?
    public var seriesInstanceUID: String?
    public var instanceNumber: Int?
    public var rows: Int
    public var columns: Int
    public var numberOfFrames: Int
    public var samplesPerPixel: Int
    public var bitsAllocated: Int
    public var bitsStored: Int
    public var highBit: Int
    /// 0 = unsigned, 1 = two's complement.
    public var pixelRepresentation: Int
    public var planarConfiguration: Int
    /// As stored in the file (e.g. `YBR_FULL_422`).
    public var photometricInterpretation: String
    /// What `pixels` holds: `MONOCHROME1`, `MONOCHROME2` or `RGB` (YBR is converted).
    public var outputPhotometricInterpretation: String
    /// Rescale Slope and Intercept (1 and 0 when absent); applied to `pixels` when `rescaleApplied`.
    public var rescaleSlope: Double
    public var rescaleIntercept: Double
    public var rescaleType: String?
    public var rescaleApplied: Bool
    /// Whether a Modality LUT Sequence mapped the stored values instead of a rescale.
    public var modalityLUTApplied: Bool
    /// Window Center / Width pairs as stored (in modality values), with the VOI LUT Function;
    /// empty when absent. Pairs with an unusable width are left out.
    public var windows: [DICOMWindow]
    /// Pixel Spacing: [between rows, between columns] in mm (the shared functional groups' value
    /// for enhanced multi-frame images).
    public var pixelSpacing: [Double]?
    public var sliceThickness: Double?
    public var spacingBetweenSlices: Double?
    /// Image Position (Patient): x, y, z in mm of the centre of the first pixel.
    public var imagePositionPatient: [Double]?
    /// Image Orientation (Patient): direction cosines of the rows, then of the columns.
    public var imageOrientationPatient: [Double]?
    /// RT Dose: Dose Grid Scaling, not applied to `pixels` (pydicom does not apply it either).
    public var doseGridScaling: Double?

    /// A one-paragraph summary without patient data.
    public var description: String {
        var lines = [
            "transfer syntax \(transferSyntax)",
            "modality \(modality ?? "-"), \(numberOfFrames) frame(s) of \(rows)×\(columns), \(samplesPerPixel) sample(s)/pixel, \(photometricInterpretation)",
            "bits allocated \(bitsAllocated), stored \(bitsStored), \(pixelRepresentation == 1 ? "signed" : "unsigned")",
        ]
        if rescaleApplied { lines.append("rescale slope \(rescaleSlope), intercept \(rescaleIntercept)") }
        if let w = windows.first { lines.append("window center \(w.center), width \(w.width)") }
        if let pixelSpacing { lines.append("pixel spacing \(pixelSpacing) mm") }
        if let sliceThickness { lines.append("slice thickness \(sliceThickness) mm") }
        if let imagePositionPatient { lines.append("image position \(imagePositionPatient)") }
        if let imageOrientationPatient { lines.append("image orientation \(imageOrientationPatient)") }
        return lines.joined(separator: "\n")
    }
}

/// A VOI window (PS3.3 C.11.2.1.2): maps modality values to display values in [0, 1].
public struct DICOMWindow: Sendable, Equatable {
    public enum Function: String, Sendable { case linear = "LINEAR", linearExact = "LINEAR_EXACT", sigmoid = "SIGMOID" }
    public var center: Double
    public var width: Double
    public var function: Function

    public init(center: Double, width: Double, function: Function = .linear) {
        self.center = center
        self.width = width
        self.function = function
    }

    /// The display value in [0, 1] of one modality value, by the standard's equations.
    @inline(__always)
    public func apply(_ x: Double) -> Double {
        switch function {
        case .linear, .linearExact:
            let (c, w) = function == .linear ? (center - 0.5, width - 1) : (center, width)
            if x <= c - w / 2 { return 0 }
            if x > c + w / 2 { return 1 }
            return (x - c) / w + 0.5
        case .sigmoid:
            return 1 / (1 + exp(-4 * (x - center) / width))
        }
    }

    /// `values` mapped through the window, as a new tensor of the same shape.
    public func apply(to values: Tensor) -> Tensor {
        check(function == .linear ? width >= 1 : width > 0,
              "DICOMWindow: width \(width) is invalid for \(function.rawValue) (LINEAR needs ≥ 1, the others > 0)")
        let input = values.contiguous()
        let count = input.count
        let storage = TensorStorage(uninitializedCount: count)
        let source = input.storage.pointer + input.offset
        for i in 0..<count { storage.pointer[i] = Float(apply(Double(source[i]))) }
        return Tensor(storage: storage, shape: values.shape)
    }
}

/// A decoded DICOM image.
public struct DICOMImage {
    /// The parsed file (header and data set).
    public let file: DICOMFile
    public let metadata: DICOMImageMetadata
    /// Modality values as Float32 with shape [frames, samples, rows, columns] (channels first, as
    /// Galen's convolutions take them): rescaled for monochrome images, RGB for colour ones.
    public let pixels: Tensor

    /// The main data set, for any element the metadata does not carry.
    public var dataSet: DICOMDataSet { file.dataSet }

    /// Parses and decodes a whole file's bytes; `source` names it in errors.
    public static func parse(_ bytes: [UInt8], source: String) throws -> DICOMImage {
        let file = try DICOMFile.parse(bytes, source: source)
        let metadata = try readImageMetadata(file)
        let pixels = try decodePixels(file, metadata)
        return DICOMImage(file: file, metadata: metadata, pixels: pixels)
    }

    /// Reads and decodes the DICOM file at `path`.
    public init(contentsOf path: String) throws {
        self = try DICOMImage.parse(readFileBytes(atPath: path), source: path)
    }

    init(file: DICOMFile, metadata: DICOMImageMetadata, pixels: Tensor) {
        self.file = file
        self.metadata = metadata
        self.pixels = pixels
    }

    /// The pixels mapped to [0, 1] for display: through `window` (default: the file's first
    /// window, else the full value range), then inverted for MONOCHROME1 when `invertMonochrome1`.
    public func windowed(_ window: DICOMWindow? = nil, invertMonochrome1: Bool = true) -> Tensor {
        var chosen = window ?? metadata.windows.first
        if chosen == nil {
            let values = pixels.scalars
            let low = Double(values.min() ?? 0), high = Double(values.max() ?? 1)
            chosen = DICOMWindow(center: (low + high) / 2, width: max(high - low, 1), function: .linearExact)
        }
        let result = chosen!.apply(to: pixels)
        if invertMonochrome1 && metadata.outputPhotometricInterpretation == "MONOCHROME1" {
            let p = result.storage.pointer
            for i in 0..<result.count { p[i] = 1 - p[i] }
        }
        return result
    }
}

/// Reads and decodes the DICOM file at `path`.
public func readDICOM(atPath path: String) throws -> DICOMImage {
    try DICOMImage(contentsOf: path)
}

// MARK: - Metadata

func readImageMetadata(_ file: DICOMFile) throws -> DICOMImageMetadata {
    let ds = file.dataSet
    func failure(_ message: String) -> DataFormatError { DataFormatError(source: ds.source, message: message) }
    func required(_ tag: DICOMTag, in range: ClosedRange<Int>) throws -> Int {
        guard ds.contains(tag) else { throw failure("missing \(tag.label)") }
        guard let value = ds.int(tag) else { throw failure("\(tag.label) '\(ds.string(tag) ?? "")' is not an integer") }
        guard range.contains(value) else { throw failure("\(tag.label) is \(value); expected \(range.lowerBound)…\(range.upperBound)") }
        return value
    }
    func optional(_ tag: DICOMTag, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        ds.contains(tag) && !(ds[tag]!.valueRange.isEmpty) ? try required(tag, in: range) : value
    }
    func vector(_ tag: DICOMTag, count: Int, in set: DICOMDataSet? = nil) throws -> [Double]? {
        let source = set ?? ds
        guard source.contains(tag), source[tag]!.valueRange.count > 0 else { return nil }
        guard let values = source.numbers(tag), values.count == count else {
            throw failure("\(tag.label) '\(source.string(tag) ?? "")' is not \(count) number(s)")
        }
        return values
    }

    guard ds.contains(DICOMTags.pixelData) else { throw failure("no \(DICOMTags.pixelData.label) element: not an image") }
    let rows = try required(DICOMTags.rows, in: 1...65535)
    let columns = try required(DICOMTags.columns, in: 1...65535)
    let bitsAllocated = try required(DICOMTags.bitsAllocated, in: 1...64)
    let bitsStored = try optional(DICOMTags.bitsStored, default: bitsAllocated, in: 1...64)
    let samples = try optional(DICOMTags.samplesPerPixel, default: 1, in: 1...4)
    let photometric = ds.string(DICOMTags.photometricInterpretation).map(trimmed) ?? (samples == 1 ? "MONOCHROME2" : "RGB")
    var output = photometric
    if ["YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT"].contains(photometric) { output = "RGB" }

    let slope = try vector(DICOMTags.rescaleSlope, count: 1)?[0]
    let intercept = try vector(DICOMTags.rescaleIntercept, count: 1)?[0]
    let centers = (try? vector(DICOMTags.windowCenter, count: ds.strings(DICOMTags.windowCenter).count)) ?? nil
    let widths = (try? vector(DICOMTags.windowWidth, count: ds.strings(DICOMTags.windowWidth).count)) ?? nil
    let function = DICOMWindow.Function(rawValue: ds.string(DICOMTags.voiLUTFunction).map(trimmed) ?? "") ?? .linear
    var windows: [DICOMWindow] = []
    if let centers, let widths {
        // Widths the function cannot use (LINEAR needs ≥ 1, the others > 0) are left out.
        for (c, w) in zip(centers, widths) where function == .linear ? w >= 1 : w > 0 {
            windows.append(DICOMWindow(center: c, width: w, function: function))
        }
    }
    var spacing = try vector(DICOMTags.pixelSpacing, count: 2)
    if spacing == nil, let shared = ds.items(DICOMTag(0x5200, 0x9229)).first,
       let measures = shared.items(DICOMTag(0x0028, 0x9110)).first {
        spacing = try vector(DICOMTags.pixelSpacing, count: 2, in: measures)
    }
    let numberOfFrames = try optional(DICOMTags.numberOfFrames, default: 1, in: 1...Int(Int32.max))
    let lut = samples == 1 && !ds.items(DICOMTags.modalityLUTSequence).isEmpty
    let rescale = samples == 1 && !lut && (slope != nil || intercept != nil)
    return DICOMImageMetadata(
        transferSyntax: file.transferSyntax,
        sopClassUID: ds.string(DICOMTags.sopClassUID),
        modality: ds.string(DICOMTags.modality),
        seriesInstanceUID: ds.string(DICOMTags.seriesInstanceUID),
        instanceNumber: ds.int(DICOMTags.instanceNumber),
        rows: rows, columns: columns, numberOfFrames: numberOfFrames, samplesPerPixel: samples,
        bitsAllocated: bitsAllocated, bitsStored: bitsStored,
        highBit: ds.int(DICOMTags.highBit) ?? bitsStored - 1,
        pixelRepresentation: try optional(DICOMTags.pixelRepresentation, default: 0, in: 0...1),
        planarConfiguration: try optional(DICOMTags.planarConfiguration, default: 0, in: 0...1),
        photometricInterpretation: photometric, outputPhotometricInterpretation: output,
        rescaleSlope: slope ?? 1, rescaleIntercept: intercept ?? 0,
        rescaleType: ds.string(DICOMTags.rescaleType), rescaleApplied: rescale,
        modalityLUTApplied: lut, windows: windows, pixelSpacing: spacing,
        sliceThickness: try vector(DICOMTags.sliceThickness, count: 1)?[0],
        spacingBetweenSlices: try vector(DICOMTags.spacingBetweenSlices, count: 1)?[0],
        imagePositionPatient: try vector(DICOMTags.imagePositionPatient, count: 3),
        imageOrientationPatient: try vector(DICOMTags.imageOrientationPatient, count: 6),
        doseGridScaling: ds.double(DICOMTags.doseGridScaling))
}

// MARK: - Pixels

/// How decoded samples lie in a buffer.
struct SampleLayout {
    var bytesPerSample: Int
    var bigEndian: Bool
    /// All of sample 0, then all of sample 1, … (else interleaved per pixel).
    var planar: Bool
}

/// At most this many output values (16 GiB of Float32), so a corrupt header cannot ask for more.
private let maximumValueCount = 1 << 32

func decodePixels(_ file: DICOMFile, _ meta: DICOMImageMetadata) throws -> Tensor {
    let ds = file.dataSet
    let syntax = file.transferSyntax
    func failure(_ message: String) -> DataFormatError { DataFormatError(source: ds.source, message: message) }
    let photometric = meta.photometricInterpretation
    let samples = meta.samplesPerPixel

    let monochrome = photometric == "MONOCHROME1" || photometric == "MONOCHROME2"
    let colour = ["RGB", "YBR_FULL", "YBR_FULL_422"].contains(photometric)
        || (["YBR_ICT", "YBR_RCT"].contains(photometric) && syntax.uid.hasPrefix("1.2.840.10008.1.2.4.9"))
    guard (monochrome && samples == 1) || (colour && samples == 3) else {
        if photometric == "PALETTE COLOR" { throw failure("\(DICOMTags.photometricInterpretation.label) PALETTE COLOR is not supported") }
        throw failure("\(DICOMTags.photometricInterpretation.label) '\(photometric)' with \(samples) sample(s) per pixel is not supported")
    }
    guard [8, 16, 32].contains(meta.bitsAllocated) else {
        throw failure("\(DICOMTags.bitsAllocated.label) \(meta.bitsAllocated) is not supported (8, 16 or 32)")
    }
    guard meta.bitsStored <= meta.bitsAllocated else {
        throw failure("\(DICOMTags.bitsStored.label) \(meta.bitsStored) exceeds \(DICOMTags.bitsAllocated.label) \(meta.bitsAllocated)")
    }
    let pixelsPerFrame = meta.rows * meta.columns
    let valuesPerFrame = pixelsPerFrame * samples
    let (valueCount, overflow) = valuesPerFrame.multipliedReportingOverflow(by: meta.numberOfFrames)
    guard !overflow, valueCount <= maximumValueCount else {
        throw failure("\(meta.numberOfFrames) frames of \(meta.rows)×\(meta.columns)×\(samples) is too large to decode")
    }
    let element = ds[DICOMTags.pixelData]!

    var frameDecoder: FrameDecoder
    if let fragments = element.fragments {
        frameDecoder = try EncapsulatedFrames(ds: ds, syntax: syntax, meta: meta, fragments: fragments)
    } else {
        guard !syntax.encapsulated else {
            throw failure("\(DICOMTags.pixelData.label) has a defined length, but transfer syntax \(syntax) needs encapsulated fragments")
        }
        frameDecoder = try NativeFrames(ds: ds, meta: meta, value: element.valueRange, bigEndian: syntax.bigEndian)
    }

    let storage = TensorStorage(uninitializedCount: valueCount)
    let lut = meta.modalityLUTApplied ? try modalityLUT(ds) : nil
    let rescale = meta.rescaleApplied
    let signed = meta.pixelRepresentation == 1
    for frame in 0..<meta.numberOfFrames {
        let out = storage.pointer + frame * valuesPerFrame
        try frameDecoder.withFrame(frame) { raw, layout in
            convertSamples(raw, layout: layout, pixels: pixelsPerFrame, samples: samples, bitsStored: meta.bitsStored,
                           signed: signed, slope: rescale ? meta.rescaleSlope : 1, intercept: rescale ? meta.rescaleIntercept : 0,
                           into: out)
        }
        if let lut { lut.apply(out, count: pixelsPerFrame) }
        if photometric.hasPrefix("YBR_FULL") && !frameDecoder.convertsColour {
            convertYBRFullToRGB(out, pixels: pixelsPerFrame, bitsStored: meta.bitsStored)
        }
    }
    return Tensor(storage: storage, shape: [meta.numberOfFrames, samples, meta.rows, meta.columns])
}

/// A source of decoded frames.
protocol FrameDecoder {
    /// Whether the codec already converted YBR to RGB.
    var convertsColour: Bool { get }
    /// Calls `body` with frame `index`'s samples and their layout.
    mutating func withFrame(_ index: Int, _ body: (UnsafeRawPointer, SampleLayout) -> Void) throws
}

/// Native (uncompressed) Pixel Data: frames one after another.
private struct NativeFrames: FrameDecoder {
    let bytes: [UInt8]
    let start: Int
    let frameBytes: Int
    let layout: SampleLayout
    let ybr422: Bool
    var scratch: [UInt8] = []
    var convertsColour: Bool { false }

    init(ds: DICOMDataSet, meta: DICOMImageMetadata, value: Range<Int>, bigEndian: Bool) throws {
        let bytesPerSample = meta.bitsAllocated / 8
        ybr422 = meta.photometricInterpretation == "YBR_FULL_422"
        let pixels = meta.rows * meta.columns
        if ybr422 && pixels % 2 != 0 {
            throw DataFormatError(source: ds.source, message: "YBR_FULL_422 needs an even number of pixels per frame, not \(meta.rows)×\(meta.columns)")
        }
        // YBR_FULL_422 stores two Y per Cb/Cr pair: 2 samples per pixel instead of 3.
        frameBytes = pixels * (ybr422 ? 2 : meta.samplesPerPixel) * bytesPerSample
        let needed = frameBytes * meta.numberOfFrames
        guard value.count >= needed else {
            throw DataFormatError(source: ds.source, message: "\(DICOMTags.pixelData.label) has \(value.count) bytes; \(meta.numberOfFrames) frame(s) of \(meta.rows)×\(meta.columns)×\(meta.samplesPerPixel) at \(meta.bitsAllocated) bits need \(needed)")
        }
        bytes = ds.bytes
        start = value.lowerBound
        // Explicit VR big endian swaps 16- and 32-bit words (OW); bytes (OB) stay in order.
        layout = SampleLayout(bytesPerSample: bytesPerSample, bigEndian: bigEndian && bytesPerSample > 1,
                              planar: meta.planarConfiguration == 1 && !ybr422)
        if ybr422 { scratch = [UInt8](repeating: 0, count: pixels * 3 * bytesPerSample) }
    }

    mutating func withFrame(_ index: Int, _ body: (UnsafeRawPointer, SampleLayout) -> Void) throws {
        let offset = start + index * frameBytes
        if !ybr422 {
            bytes.withUnsafeBytes { body($0.baseAddress! + offset, layout) }
            return
        }
        // Y0 Y1 Cb Cr → Y0 Cb Cr, Y1 Cb Cr.
        let size = layout.bytesPerSample
        let pairs = frameBytes / (4 * size)
        bytes.withUnsafeBytes { raw in
            scratch.withUnsafeMutableBytes { out in
                let src = raw.baseAddress! + offset
                for pair in 0..<pairs {
                    let s = src + pair * 4 * size
                    let d = out.baseAddress!.assumingMemoryBound(to: UInt8.self) + pair * 6 * size
                    for k in 0..<size {
                        d[k] = s.load(fromByteOffset: k, as: UInt8.self)
                        d[size + k] = s.load(fromByteOffset: 2 * size + k, as: UInt8.self)
                        d[2 * size + k] = s.load(fromByteOffset: 3 * size + k, as: UInt8.self)
                        d[3 * size + k] = s.load(fromByteOffset: size + k, as: UInt8.self)
                        d[4 * size + k] = s.load(fromByteOffset: 2 * size + k, as: UInt8.self)
                        d[5 * size + k] = s.load(fromByteOffset: 3 * size + k, as: UInt8.self)
                    }
                }
            }
        }
        scratch.withUnsafeBytes { body($0.baseAddress!, SampleLayout(bytesPerSample: size, bigEndian: layout.bigEndian, planar: false)) }
    }
}

/// Writes the frame's samples as Float32 planes [samples, pixels] into `out`: the low
/// `bitsStored` bits of each sample, sign-extended when `signed`, times `slope` plus `intercept`.
func convertSamples(_ raw: UnsafeRawPointer, layout: SampleLayout, pixels: Int, samples: Int, bitsStored: Int,
                    signed: Bool, slope: Double, intercept: Double, into out: UnsafeMutablePointer<Float>) {
    switch layout.bytesPerSample {
    case 1: convert(UInt8.self, raw, layout, pixels, samples, bitsStored, signed, slope, intercept, out)
    case 2: convert(UInt16.self, raw, layout, pixels, samples, bitsStored, signed, slope, intercept, out)
    default: convert(UInt32.self, raw, layout, pixels, samples, bitsStored, signed, slope, intercept, out)
    }
}

@inline(__always)
private func convert<T: FixedWidthInteger & UnsignedInteger>(
    _: T.Type, _ raw: UnsafeRawPointer, _ layout: SampleLayout, _ pixels: Int, _ samples: Int, _ bitsStored: Int,
    _ signed: Bool, _ slope: Double, _ intercept: Double, _ out: UnsafeMutablePointer<Float>
) {
    let mask: UInt64 = bitsStored >= 64 ? ~0 : (1 << UInt64(bitsStored)) - 1
    let signBit: UInt64 = 1 << UInt64(bitsStored - 1)
    let swap = layout.bigEndian
    let identity = slope == 1 && intercept == 0
    let size = MemoryLayout<T>.size
    for sample in 0..<samples {
        let plane = out + sample * pixels
        let (first, step) = layout.planar ? (sample * pixels, 1) : (sample, samples)
        for p in 0..<pixels {
            var stored = raw.loadUnaligned(fromByteOffset: (first + p * step) * size, as: T.self)
            stored = swap ? T(bigEndian: stored) : T(littleEndian: stored)
            var bits = UInt64(stored) & mask
            if signed && bits & signBit != 0 { bits |= ~mask }
            let value = Int64(bitPattern: bits)
            plane[p] = identity ? Float(value) : Float(Double(value) * slope + intercept)
        }
    }
}

/// YBR_FULL → RGB in place on planar Float32 values, by PS3.3 C.7.6.3.1.2 with the coefficients,
/// Float32 arithmetic and rounding pydicom's `convert_color_space` uses.
func convertYBRFullToRGB(_ planes: UnsafeMutablePointer<Float>, pixels: Int, bitsStored: Int) {
    let offset = Float(1 << (max(bitsStored, 1) - 1))
    let maximum = Float((1 << bitsStored) - 1)
    let gFromCb = Float(-0.114 * 1.772 / 0.587), gFromCr = Float(-0.299 * 1.402 / 0.587)
    let y = planes, cb = planes + pixels, cr = planes + 2 * pixels
    for p in 0..<pixels {
        let l = y[p], b = cb[p] - offset, r = cr[p] - offset
        let red = l + 1.402 * r
        let green = l + gFromCb * b + gFromCr * r
        let blue = l + 1.772 * b
        y[p] = min(max((red + 0.5).rounded(.down), 0), maximum)
        cb[p] = min(max((green + 0.5).rounded(.down), 0), maximum)
        cr[p] = min(max((blue + 0.5).rounded(.down), 0), maximum)
    }
}

/// The Modality LUT Sequence's table (PS3.3 C.11.1), used instead of a rescale when present.
private struct ModalityLUT {
    let firstMapped: Int
    let table: [Float]
    func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let index = min(max(Int(values[i]) - firstMapped, 0), table.count - 1)
            values[i] = table[index]
        }
    }
}

private func modalityLUT(_ ds: DICOMDataSet) throws -> ModalityLUT? {
    guard let item = ds.items(DICOMTags.modalityLUTSequence).first else { return nil }
    func failure(_ message: String) -> DataFormatError { DataFormatError(source: ds.source, message: message) }
    let descriptorTag = DICOMTag(0x0028, 0x3002), dataTag = DICOMTag(0x0028, 0x3006)
    guard let descriptor = item.numbers(descriptorTag), descriptor.count == 3 else {
        throw failure("Modality LUT Sequence item has no 3-valued \(descriptorTag.label)")
    }
    let entries = descriptor[0] == 0 ? 65536 : Int(descriptor[0])
    guard let element = item[dataTag], element.valueRange.count >= 2 * entries else {
        throw failure("Modality LUT Sequence \(dataTag.label) has fewer than the \(entries) entries its descriptor gives")
    }
    var table = [Float](repeating: 0, count: entries)
    item.bytes.withUnsafeBytes { raw in
        for i in 0..<entries {
            let v = raw.loadUnaligned(fromByteOffset: element.valueRange.lowerBound + 2 * i, as: UInt16.self)
            table[i] = Float(item.bigEndian ? UInt16(bigEndian: v) : UInt16(littleEndian: v))
        }
    }
    // The first mapped value is US or SS as the image's Pixel Representation says.
    var first = Int(descriptor[1])
    if ds.int(DICOMTags.pixelRepresentation) == 1 && first >= 32768 { first -= 65536 }
    return ModalityLUT(firstMapped: first, table: table)
}
