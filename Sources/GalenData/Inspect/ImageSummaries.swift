import Foundation

// Summaries of image files: PNG, TIFF, NIfTI.

func summarizePNG(_ path: String, prefix: [UInt8]) throws -> FileSummary {
    let image = try PNG.read(path: path)
    // IHDR follows the 8-byte signature, its length and its type: the colour type is at byte 25.
    let colourTypes = [0: "gray", 2: "RGB", 3: "palette", 4: "gray + alpha", 6: "RGBA"]
    let colourType = prefix.count > 25 ? Int(prefix[25]) : -1
    let storedDepth = prefix.count > 24 ? Int(prefix[24]) : image.bitDepth
    return FileSummary(path: path, format: "PNG", fields: [
        SummaryField("width", .integer(image.width)),
        SummaryField("height", .integer(image.height)),
        SummaryField("channels", .integer(image.channels)),
        SummaryField("bit_depth", .integer(storedDepth)),
        SummaryField("color_type", .text(colourTypes[colourType] ?? "code \(colourType)")),
        SummaryField("value_range", .integers(sampleRange(image.samples))),
        SummaryField("distinct_values", .integer(Set(image.samples).count)),
    ])
}

func summarizeTIFF(_ path: String) throws -> FileSummary {
    let image = try TIFF.read(path: path)
    let prefix = try readPrefix(ofFileAtPath: path, count: 2)
    var fields = [
        SummaryField("byte_order", .text(prefix == Array("II".utf8) ? "little-endian" : "big-endian")),
        SummaryField("width", .integer(image.width)),
        SummaryField("height", .integer(image.height)),
        SummaryField("channels", .integer(image.channels)),
        SummaryField("bit_depth", .integer(image.bitDepth)),
        SummaryField("sample_format", .text(image.isFloat ? "float" : "unsigned integer")),
    ]
    if let range = valueRange(image.samples) { fields.append(SummaryField("value_range", .numbers(range))) }
    return FileSummary(path: path, format: "TIFF", fields: fields)
}

func summarizeNIfTI(_ path: String, compressed: Bool) throws -> FileSummary {
    let image = try readNIfTI(atPath: path)
    let spatialUnits = [0: "unknown", 1: "m", 2: "mm", 3: "µm"]
    let temporalUnits = [0: "unknown", 8: "s", 16: "ms", 24: "µs", 32: "Hz", 40: "ppm", 48: "rad/s"]
    var fields = [
        SummaryField("version", .integer(image.version)),
        SummaryField("gzip", .flag(compressed)),
        SummaryField("byte_order", .text(image.bigEndian ? "big-endian" : "little-endian")),
        SummaryField("dims", .integers(image.shape)),
        SummaryField("datatype", .text(niftiDatatypeNames[image.datatypeCode] ?? "code \(image.datatypeCode)")),
        SummaryField("datatype_code", .integer(image.datatypeCode)),
        SummaryField("pixdim", .numbers(image.pixdim)),
        SummaryField("spacing", .numbers(image.voxelSpacing)),
        SummaryField("units", .record([
            SummaryField("spatial", .text(spatialUnits[image.xyztUnits & 0x07] ?? "code \(image.xyztUnits & 0x07)")),
            SummaryField("temporal", .text(temporalUnits[image.xyztUnits & 0x38] ?? "code \(image.xyztUnits & 0x38)")),
        ])),
        SummaryField("qform_code", .integer(image.qformCode)),
        SummaryField("qform", .text(niftiTransformNames[image.qformCode] ?? "unknown")),
        SummaryField("sform_code", .integer(image.sformCode)),
        SummaryField("sform", .text(niftiTransformNames[image.sformCode] ?? "unknown")),
        SummaryField("affine", .matrix(image.affine)),
        SummaryField("affine_source", .text(image.sformCode > 0 ? "sform" : image.qformCode > 0 ? "qform" : "pixdim")),
        SummaryField("scl_slope", .number(image.sclSlope)),
        SummaryField("scl_inter", .number(image.sclInter)),
        SummaryField("scaling_applied", .flag(image.scalingApplied)),
        SummaryField("vox_offset", .integer(image.voxOffset)),
        SummaryField("descrip", .text(image.description)),
    ]
    if image.intentCode != 0 || !image.intentName.isEmpty {
        fields.append(SummaryField("intent_code", .integer(image.intentCode)))
        fields.append(SummaryField("intent_name", .text(image.intentName)))
    }
    if let range = valueRange(image.data.scalars) { fields.append(SummaryField("value_range", .numbers(range))) }
    return FileSummary(path: path, format: "NIfTI-\(image.version)", fields: fields)
}

/// NIfTI datatype names by code (nifti1.h).
private let niftiDatatypeNames: [Int: String] = [
    1: "binary", 2: "uint8", 4: "int16", 8: "int32", 16: "float32", 32: "complex64", 64: "float64", 128: "RGB24",
    256: "int8", 512: "uint16", 768: "uint32", 1024: "int64", 1280: "uint64", 1536: "float128", 1792: "complex128",
    2048: "complex256", 2304: "RGBA32",
]

/// The meanings of qform_code and sform_code (nifti1.h `NIFTI_XFORM_*`).
private let niftiTransformNames: [Int: String] = [
    0: "unknown", 1: "scanner anatomical", 2: "aligned anatomical", 3: "Talairach", 4: "MNI 152", 5: "template other",
]

/// [smallest, largest] of integer samples; [] for none.
private func sampleRange(_ samples: [UInt16]) -> [Int] {
    guard let low = samples.min(), let high = samples.max() else { return [] }
    return [Int(low), Int(high)]
}
