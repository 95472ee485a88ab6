import Galen

/// A DICOM file's summary: transfer syntax, image geometry and pixel format from the header, and
/// the value range of the decoded pixels. Patient-identifying elements are never printed. Pixel
/// data in a syntax Galen does not decode still gets a summary of the rest (the header is what a
/// user inspects the file for), saying why the pixels were not read; a damaged file is an error.
func summarizeDICOM(_ path: String) throws -> FileSummary {
    let header = try DICOMFile.parse(readFileBytes(atPath: path), source: path)
    let ds = header.dataSet
    let syntax = header.transferSyntax
    var fields = [
        SummaryField("transfer_syntax", .text(syntax.uid)),
        SummaryField("transfer_syntax_name", .text(syntax.name)),
        SummaryField("preamble", .flag(header.hasPreamble)),
    ]
    func text(_ key: String, _ tag: DICOMTag) {
        if let value = ds.string(tag), !value.isEmpty { fields.append(SummaryField(key, .text(value))) }
    }
    func integer(_ key: String, _ tag: DICOMTag) {
        if let value = ds.int(tag) { fields.append(SummaryField(key, .integer(value))) }
    }
    func numbers(_ key: String, _ tag: DICOMTag) {
        if let value = ds.numbers(tag), !value.isEmpty {
            fields.append(SummaryField(key, value.count == 1 ? .number(value[0]) : .numbers(value)))
        }
    }
    text("sop_class_uid", DICOMTags.sopClassUID)
    text("modality", DICOMTags.modality)
    text("series_description", DICOMTags.seriesDescription)
    integer("rows", DICOMTags.rows)
    integer("columns", DICOMTags.columns)
    fields.append(SummaryField("frames", .integer(ds.int(DICOMTags.numberOfFrames) ?? 1)))
    integer("samples_per_pixel", DICOMTags.samplesPerPixel)
    text("photometric_interpretation", DICOMTags.photometricInterpretation)
    integer("bits_allocated", DICOMTags.bitsAllocated)
    integer("bits_stored", DICOMTags.bitsStored)
    if let representation = ds.int(DICOMTags.pixelRepresentation) {
        fields.append(SummaryField("pixel_representation", .text(representation == 1 ? "signed" : "unsigned")))
    }
    numbers("pixel_spacing_mm", DICOMTags.pixelSpacing)
    numbers("slice_thickness_mm", DICOMTags.sliceThickness)
    numbers("image_position_patient", DICOMTags.imagePositionPatient)
    numbers("image_orientation_patient", DICOMTags.imageOrientationPatient)
    numbers("rescale_slope", DICOMTags.rescaleSlope)
    numbers("rescale_intercept", DICOMTags.rescaleIntercept)
    numbers("window_center", DICOMTags.windowCenter)
    numbers("window_width", DICOMTags.windowWidth)
    fields.append(SummaryField("elements", .integer(ds.elements.count)))
    if !ds.contains(DICOMTags.pixelData) {
        fields.append(SummaryField("pixel_data", .text("none")))
    } else if !syntax.pixelDataDecodable {
        fields.append(SummaryField("pixel_data", .text("not decoded: Galen does not decode \(syntax.name)")))
    } else {
        let image = try readDICOM(atPath: path)
        fields.append(SummaryField("pixel_shape", .integers(image.pixels.shape)))
        if let range = valueRange(image.pixels.scalars) { fields.append(SummaryField("value_range", .numbers(range))) }
    }
    return FileSummary(path: path, format: "DICOM", fields: fields)
}
