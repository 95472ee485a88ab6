import Foundation
import Galen

// A DICOM series (one file per slice) stacked into a volume. Slices are ordered by where they lie
// along the slice normal — the projection of Image Position (Patient) onto the cross product of
// the row and column directions of Image Orientation (Patient) — which is right for any
// orientation and any file order; Instance Number is the fallback when positions are missing.

/// A volume assembled from the single-frame slices of one series.
public struct DICOMVolume {
    /// Modality values, Float32, shape [slices, rows, columns].
    public let voxels: Tensor
    /// Voxel spacing in mm as [between slices, between rows, between columns] (the tensor's axis
    /// order). The slice spacing is the mean distance between consecutive slice positions, or
    /// Spacing Between Slices / Slice Thickness (else 1) when slices are ordered by number.
    public let spacing: [Double]
    /// Image Position (Patient) of the first slice: the centre of voxel [0, 0, 0], in mm.
    public let origin: [Double]?
    /// Image Orientation (Patient): row direction cosines, then column direction cosines.
    public let orientation: [Double]?
    /// Unit normal (row × column): the direction in which the slice index grows.
    public let sliceNormal: [Double]?
    /// Whether slices were ordered by position (else by Instance Number).
    public let orderedByPosition: Bool
    /// The files, in slice order.
    public let paths: [String]
    /// Each slice's metadata, in slice order.
    public let slices: [DICOMImageMetadata]
}

/// Reads the DICOM files in `directory` (files without the "DICM" marker, and hidden files, are
/// skipped) as one series. When the folder holds several series, pass `seriesInstanceUID`.
public func readDICOMSeries(directory: String, seriesInstanceUID: String? = nil) throws -> DICOMVolume {
    let names: [String]
    do { names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted() } catch {
        throw DataFormatError(source: directory, message: "cannot list the folder: \(error.localizedDescription)")
    }
    var byUID: [String: [String]] = [:]
    for name in names where !name.hasPrefix(".") {
        let path = (directory as NSString).appendingPathComponent(name)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue,
              hasDICMMarker(path) else { continue }
        let header = try readDICOMHeader(atPath: path)
        byUID[header.dataSet.string(DICOMTags.seriesInstanceUID) ?? "", default: []].append(path)
    }
    if let seriesInstanceUID {
        guard let paths = byUID[seriesInstanceUID] else {
            throw DataFormatError(source: directory, message: "no file of series \(seriesInstanceUID) (found \(byUID.keys.sorted()))")
        }
        return try readDICOMSeries(paths: paths)
    }
    guard byUID.count <= 1 else {
        throw DataFormatError(source: directory, message: "the folder holds \(byUID.count) series (\(byUID.keys.sorted().joined(separator: ", "))); pass seriesInstanceUID")
    }
    guard let paths = byUID.values.first else { throw DataFormatError(source: directory, message: "no DICOM files") }
    return try readDICOMSeries(paths: paths)
}

/// Reads the given single-frame files as the slices of one series, in spatial order.
public func readDICOMSeries(paths: [String]) throws -> DICOMVolume {
    guard let firstPath = paths.first else { throw DataFormatError(source: "DICOM series", message: "no files given") }
    let images = try paths.map { try readDICOM(atPath: $0) }
    let first = images[0].metadata
    for (path, image) in zip(paths, images) {
        let m = image.metadata
        func failure(_ message: String) -> DataFormatError { DataFormatError(source: path, message: message) }
        guard m.numberOfFrames == 1, m.samplesPerPixel == 1 else {
            throw failure("a series slice must be one single-sample frame, not \(m.numberOfFrames) frame(s) of \(m.samplesPerPixel) sample(s)")
        }
        guard m.rows == first.rows, m.columns == first.columns else {
            throw failure("slice is \(m.rows)×\(m.columns) but \(firstPath) is \(first.rows)×\(first.columns)")
        }
        guard m.seriesInstanceUID == first.seriesInstanceUID else {
            throw failure("Series Instance UID \(m.seriesInstanceUID ?? "none") differs from \(first.seriesInstanceUID ?? "none") of \(firstPath)")
        }
    }

    var order = Array(images.indices)
    var sliceSpacing = first.spacingBetweenSlices ?? first.sliceThickness ?? 1
    var normal: [Double]?
    let byPosition = images.allSatisfy { $0.metadata.imagePositionPatient != nil && $0.metadata.imageOrientationPatient != nil }
    if byPosition {
        let o = first.imageOrientationPatient!
        let n = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]]
        let length = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).squareRoot()
        guard length > 1e-6 else { throw DataFormatError(source: firstPath, message: "Image Orientation (Patient) \(o) has parallel row and column directions") }
        normal = n.map { $0 / length }
        for (path, image) in zip(paths, images) {
            let other = image.metadata.imageOrientationPatient!
            guard zip(other, o).allSatisfy({ abs($0 - $1) <= 1e-4 }) else {
                throw DataFormatError(source: path, message: "Image Orientation (Patient) \(other) differs from \(o) of \(firstPath)")
            }
        }
        let distance = images.map { image in zip(image.metadata.imagePositionPatient!, normal!).reduce(0) { $0 + $1.0 * $1.1 } }
        order.sort { distance[$0] < distance[$1] }
        for (a, b) in zip(order, order.dropFirst()) where distance[b] - distance[a] < 1e-4 {
            throw DataFormatError(source: paths[b], message: "slice lies at the same position along the slice normal as \(paths[a])")
        }
        if order.count > 1 { sliceSpacing = (distance[order.last!] - distance[order[0]]) / Double(order.count - 1) }
    } else {
        for (path, image) in zip(paths, images) where image.metadata.instanceNumber == nil {
            throw DataFormatError(source: path, message: "cannot order the slice: it has neither Image Position/Orientation (Patient) nor Instance Number")
        }
        order.sort { images[$0].metadata.instanceNumber! < images[$1].metadata.instanceNumber! }
    }

    let sliceCount = first.rows * first.columns
    let storage = TensorStorage(uninitializedCount: sliceCount * images.count)
    for (k, index) in order.enumerated() {
        let slice = images[index].pixels.contiguous()
        (storage.pointer + k * sliceCount).update(from: slice.storage.pointer + slice.offset, count: sliceCount)
    }
    let pixelSpacing = first.pixelSpacing ?? [1, 1]
    let firstSlice = images[order[0]].metadata
    return DICOMVolume(
        voxels: Tensor(storage: storage, shape: [images.count, first.rows, first.columns]),
        spacing: [sliceSpacing, pixelSpacing[0], pixelSpacing[1]],
        origin: byPosition ? firstSlice.imagePositionPatient : nil,
        orientation: first.imageOrientationPatient, sliceNormal: normal, orderedByPosition: byPosition,
        paths: order.map { paths[$0] }, slices: order.map { images[$0].metadata })
}

/// Whether the file has "DICM" after a 128-byte preamble (reads 132 bytes only).
private func hasDICMMarker(_ path: String) -> Bool {
    guard let handle = FileHandle(forReadingAtPath: path) else { return false }
    defer { try? handle.close() }
    let head = (try? handle.read(upToCount: 132)) ?? Data()
    return head.count == 132 && Array(head.suffix(4)) == Array("DICM".utf8)
}
