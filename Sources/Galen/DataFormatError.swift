import Foundation

/// A data file that cannot be read or written: which file (or archive member), and what is wrong.
///
/// Every reader of outside data (GalenData's formats, GalenNN's safetensors) treats its input as
/// untrusted and reports bad contents with this error rather than stopping the program.
public struct DataFormatError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// The file path, an archive member such as `NPZ member x.npy of file y.npz`, or the label
    /// given for an in-memory buffer.
    public let source: String
    /// What is wrong, e.g. `unsupported NPY version 4.0`.
    public let message: String

    /// An error about `source`.
    public init(source: String, message: String) {
        self.source = source
        self.message = message
    }

    /// The source and the message, e.g. `images.npy: bad magic ...`.
    public var description: String { "\(source): \(message)" }
    /// The same as `description`, so that `localizedDescription` shows the file and the problem.
    public var errorDescription: String? { description }
}
