import Galen
/// The arrays of a NumPy `.npz` file (what `numpy.savez` and `numpy.savez_compressed` write): a
/// zip archive whose members are .npy files, one per array.
///
/// Reading parses the zip central directory (zip64 included), extracts stored and deflated
/// members, verifies each member's CRC-32 and declared size, and decodes the .npy inside. The
/// arrays are decoded when the file is opened, all of them or the ones named in `only`, so that
/// a damaged file fails at once, with an error naming the file and the member.
///
/// ```swift
/// let npz = try NPZ(contentsOf: "Data/medmnist/pneumoniamnist.npz")
/// let images = try npz.array(named: "train_images").floatTensor()   // [4708, 28, 28]
/// let labels = npz["train_labels"]                                  // NPYArray?
/// ```
public struct NPZ: Sendable {
    /// The archive's name in error messages: its path, or the label given for in-memory bytes.
    public let source: String
    /// The names of the arrays in archive order, without the `.npy` suffix (as NumPy's
    /// `NpzFile.files` lists them). Members that are not .npy files are ignored.
    public let names: [String]
    private let arrays: [String: NPYArray]

    /// Reads the .npz file at `path`, decoding every array, or only those named in `only`.
    public init(contentsOf path: String, only: Set<String>? = nil) throws {
        try self.init(bytes: readFileBytes(atPath: path), source: path, only: only)
    }

    /// Reads an .npz file held in memory; `source` names it in error messages.
    public init(bytes: [UInt8], source: String = "NPZ data in memory", only: Set<String>? = nil) throws {
        let archive = try ZipArchive(bytes: bytes, source: source)
        var names: [String] = []
        var arrays: [String: NPYArray] = [:]
        var seen = Set<String>()
        for member in archive.members where member.name.hasSuffix(".npy") {
            let name = String(member.name.dropLast(4))
            guard seen.insert(name).inserted else {
                throw DataFormatError(source: source, message: "the member \(member.name) appears twice")
            }
            names.append(name)
            guard only?.contains(name) ?? true else { continue }
            let contents = try archive.contents(of: member)
            let memberSource = "NPZ member \(member.name) of file \(source)"
            arrays[name] = try contents.withUnsafeBytes { try NPYArray(parsing: $0, source: memberSource) }
        }
        if let missing = only?.subtracting(seen).sorted(), !missing.isEmpty {
            throw DataFormatError(
                source: source, message: "no array named \(missing.joined(separator: ", ")) (it holds \(names.joined(separator: ", ")))")
        }
        self.source = source
        self.names = names
        self.arrays = arrays
    }

    /// The decoded array named `name` (without `.npy`), nil if the archive has none or it was not
    /// selected with `only`.
    public subscript(name: String) -> NPYArray? { arrays[name] }

    /// The decoded array named `name`; throws naming the file and the arrays it does hold when
    /// there is none.
    public func array(named name: String) throws -> NPYArray {
        guard let array = arrays[name] else {
            let reason = names.contains(name) ? "was not decoded (not in `only`)" : "is not in the archive (it holds \(names.joined(separator: ", ")))"
            throw DataFormatError(source: source, message: "the array \(name) \(reason)")
        }
        return array
    }
}
