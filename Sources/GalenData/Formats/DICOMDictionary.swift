// A small DICOM data dictionary: the attributes Galen reads or shows, with their value
// representation (needed to interpret implicit-VR files) and their names (for inspection output).
// Names and VRs are those of PS3.6.

/// Well-known tags, by name.
public enum DICOMTags {
    public static let transferSyntaxUID = DICOMTag(0x0002, 0x0010)
    public static let sopClassUID = DICOMTag(0x0008, 0x0016)
    public static let sopInstanceUID = DICOMTag(0x0008, 0x0018)
    public static let modality = DICOMTag(0x0008, 0x0060)
    public static let seriesDescription = DICOMTag(0x0008, 0x103E)
    public static let sliceThickness = DICOMTag(0x0018, 0x0050)
    public static let spacingBetweenSlices = DICOMTag(0x0018, 0x0088)
    public static let studyInstanceUID = DICOMTag(0x0020, 0x000D)
    public static let seriesInstanceUID = DICOMTag(0x0020, 0x000E)
    public static let seriesNumber = DICOMTag(0x0020, 0x0011)
    public static let instanceNumber = DICOMTag(0x0020, 0x0013)
    public static let imagePositionPatient = DICOMTag(0x0020, 0x0032)
    public static let imageOrientationPatient = DICOMTag(0x0020, 0x0037)
    public static let samplesPerPixel = DICOMTag(0x0028, 0x0002)
    public static let photometricInterpretation = DICOMTag(0x0028, 0x0004)
    public static let planarConfiguration = DICOMTag(0x0028, 0x0006)
    public static let numberOfFrames = DICOMTag(0x0028, 0x0008)
    public static let rows = DICOMTag(0x0028, 0x0010)
    public static let columns = DICOMTag(0x0028, 0x0011)
    public static let pixelSpacing = DICOMTag(0x0028, 0x0030)
    public static let bitsAllocated = DICOMTag(0x0028, 0x0100)
    public static let bitsStored = DICOMTag(0x0028, 0x0101)
    public static let highBit = DICOMTag(0x0028, 0x0102)
    public static let pixelRepresentation = DICOMTag(0x0028, 0x0103)
    public static let windowCenter = DICOMTag(0x0028, 0x1050)
    public static let windowWidth = DICOMTag(0x0028, 0x1051)
    public static let rescaleIntercept = DICOMTag(0x0028, 0x1052)
    public static let rescaleSlope = DICOMTag(0x0028, 0x1053)
    public static let rescaleType = DICOMTag(0x0028, 0x1054)
    public static let voiLUTFunction = DICOMTag(0x0028, 0x1056)
    public static let modalityLUTSequence = DICOMTag(0x0028, 0x3000)
    public static let doseGridScaling = DICOMTag(0x3004, 0x000E)
    public static let pixelData = DICOMTag(0x7FE0, 0x0010)
    public static let item = DICOMTag(0xFFFE, 0xE000)
    public static let itemDelimitation = DICOMTag(0xFFFE, 0xE00D)
    public static let sequenceDelimitation = DICOMTag(0xFFFE, 0xE0DD)
}

/// `(group << 16 | element)` → (VR, name).
let dicomDictionary: [UInt32: (vr: String, name: String)] = {
    let entries: [(UInt32, String, String)] = [
        (0x0002_0000, "UL", "File Meta Information Group Length"),
        (0x0002_0001, "OB", "File Meta Information Version"),
        (0x0002_0002, "UI", "Media Storage SOP Class UID"),
        (0x0002_0003, "UI", "Media Storage SOP Instance UID"),
        (0x0002_0010, "UI", "Transfer Syntax UID"),
        (0x0002_0012, "UI", "Implementation Class UID"),
        (0x0002_0013, "SH", "Implementation Version Name"),
        (0x0002_0016, "AE", "Source Application Entity Title"),
        (0x0008_0005, "CS", "Specific Character Set"),
        (0x0008_0008, "CS", "Image Type"),
        (0x0008_0016, "UI", "SOP Class UID"),
        (0x0008_0018, "UI", "SOP Instance UID"),
        (0x0008_0020, "DA", "Study Date"),
        (0x0008_0021, "DA", "Series Date"),
        (0x0008_0030, "TM", "Study Time"),
        (0x0008_0050, "SH", "Accession Number"),
        (0x0008_0060, "CS", "Modality"),
        (0x0008_0070, "LO", "Manufacturer"),
        (0x0008_0080, "LO", "Institution Name"),
        (0x0008_0090, "PN", "Referring Physician's Name"),
        (0x0008_1030, "LO", "Study Description"),
        (0x0008_103E, "LO", "Series Description"),
        (0x0008_1090, "LO", "Manufacturer's Model Name"),
        (0x0010_0010, "PN", "Patient's Name"),
        (0x0010_0020, "LO", "Patient ID"),
        (0x0010_0030, "DA", "Patient's Birth Date"),
        (0x0010_0040, "CS", "Patient's Sex"),
        (0x0010_1010, "AS", "Patient's Age"),
        (0x0018_0015, "CS", "Body Part Examined"),
        (0x0018_0050, "DS", "Slice Thickness"),
        (0x0018_0060, "DS", "KVP"),
        (0x0018_0080, "DS", "Repetition Time"),
        (0x0018_0081, "DS", "Echo Time"),
        (0x0018_0087, "DS", "Magnetic Field Strength"),
        (0x0018_0088, "DS", "Spacing Between Slices"),
        (0x0018_1164, "DS", "Imager Pixel Spacing"),
        (0x0018_5100, "CS", "Patient Position"),
        (0x0020_000D, "UI", "Study Instance UID"),
        (0x0020_000E, "UI", "Series Instance UID"),
        (0x0020_0010, "SH", "Study ID"),
        (0x0020_0011, "IS", "Series Number"),
        (0x0020_0012, "IS", "Acquisition Number"),
        (0x0020_0013, "IS", "Instance Number"),
        (0x0020_0032, "DS", "Image Position (Patient)"),
        (0x0020_0037, "DS", "Image Orientation (Patient)"),
        (0x0020_0052, "UI", "Frame of Reference UID"),
        (0x0020_1041, "DS", "Slice Location"),
        (0x0028_0002, "US", "Samples per Pixel"),
        (0x0028_0004, "CS", "Photometric Interpretation"),
        (0x0028_0006, "US", "Planar Configuration"),
        (0x0028_0008, "IS", "Number of Frames"),
        (0x0028_0009, "AT", "Frame Increment Pointer"),
        (0x0028_0010, "US", "Rows"),
        (0x0028_0011, "US", "Columns"),
        (0x0028_0030, "DS", "Pixel Spacing"),
        (0x0028_0034, "IS", "Pixel Aspect Ratio"),
        (0x0028_0100, "US", "Bits Allocated"),
        (0x0028_0101, "US", "Bits Stored"),
        (0x0028_0102, "US", "High Bit"),
        (0x0028_0103, "US", "Pixel Representation"),
        (0x0028_1050, "DS", "Window Center"),
        (0x0028_1051, "DS", "Window Width"),
        (0x0028_1052, "DS", "Rescale Intercept"),
        (0x0028_1053, "DS", "Rescale Slope"),
        (0x0028_1054, "LO", "Rescale Type"),
        (0x0028_1055, "LO", "Window Center & Width Explanation"),
        (0x0028_1056, "CS", "VOI LUT Function"),
        (0x0028_2110, "CS", "Lossy Image Compression"),
        (0x0028_3000, "SQ", "Modality LUT Sequence"),
        (0x0028_3002, "US", "LUT Descriptor"),
        (0x0028_3006, "US", "LUT Data"),
        (0x0028_3010, "SQ", "VOI LUT Sequence"),
        (0x0028_9110, "SQ", "Pixel Measures Sequence"),
        (0x0020_9113, "SQ", "Plane Position Sequence"),
        (0x0020_9116, "SQ", "Plane Orientation Sequence"),
        (0x0028_9132, "SQ", "Frame VOI LUT Sequence"),
        (0x0028_9145, "SQ", "Pixel Value Transformation Sequence"),
        (0x0008_1140, "SQ", "Referenced Image Sequence"),
        (0x0008_1150, "UI", "Referenced SOP Class UID"),
        (0x0008_1155, "UI", "Referenced SOP Instance UID"),
        (0x3004_0002, "CS", "Dose Units"),
        (0x3004_0004, "CS", "Dose Type"),
        (0x3004_000A, "CS", "Dose Summation Type"),
        (0x3004_000C, "DS", "Grid Frame Offset Vector"),
        (0x3004_000E, "DS", "Dose Grid Scaling"),
        (0x300A_0002, "SH", "RT Plan Label"),
        (0x300A_0010, "SQ", "Dose Reference Sequence"),
        (0x300A_0070, "SQ", "Fraction Group Sequence"),
        (0x300A_00B0, "SQ", "Beam Sequence"),
        (0x300A_0180, "SQ", "Patient Setup Sequence"),
        (0x300C_0002, "SQ", "Referenced RT Plan Sequence"),
        (0x300C_0060, "SQ", "Referenced Structure Set Sequence"),
        (0x5200_9229, "SQ", "Shared Functional Groups Sequence"),
        (0x5200_9230, "SQ", "Per-frame Functional Groups Sequence"),
        (0x7FE0_0001, "OV", "Extended Offset Table"),
        (0x7FE0_0002, "OV", "Extended Offset Table Lengths"),
        (0x7FE0_0010, "OW", "Pixel Data"),
        (0xFFFE_E000, "NONE", "Item"),
        (0xFFFE_E00D, "NONE", "Item Delimitation Item"),
        (0xFFFE_E0DD, "NONE", "Sequence Delimitation Item"),
    ]
    var table: [UInt32: (vr: String, name: String)] = [:]
    for (tag, vr, name) in entries { table[tag] = (vr, name) }
    return table
}()

/// The VR of a tag in an implicit-VR data set: from the dictionary, UL for group lengths, LO for
/// private creators, else UN.
func implicitVR(of tag: DICOMTag) -> String {
    if let entry = dicomDictionary[tag.rawValue] { return entry.vr }
    if tag.element == 0 { return "UL" }
    if tag.group & 1 == 1 && (0x0010...0x00FF).contains(tag.element) { return "LO" }
    return "UN"
}
