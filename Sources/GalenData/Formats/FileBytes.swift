#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Galen

// Whole-file input and output for the format readers. Reading goes through POSIX calls so that a
// failure carries the system's reason (Foundation's messages on Linux do not always say why).

/// The contents of the regular file at `path`, read with one allocation.
func readFileBytes(atPath path: String) throws -> [UInt8] {
    func failure(_ message: String) -> DataFormatError { DataFormatError(source: path, message: message) }
    func systemReason() -> String { String(cString: strerror(errno)) }

    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw failure("cannot open: \(systemReason())") }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw failure("cannot read its size: \(systemReason())") }
    guard (info.st_mode & S_IFMT) == S_IFREG else { throw failure("not a regular file") }
    let size = Int(info.st_size)

    var readError: DataFormatError?
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
        while initialized < size {
            // Linux moves at most about 2 GiB per read call.
            let got = read(descriptor, buffer.baseAddress! + initialized, min(size - initialized, 1 << 30))
            if got < 0 && errno == EINTR { continue }
            if got <= 0 {
                let reason = got == 0 ? "the file shrank from \(size) to \(initialized) bytes while being read" : systemReason()
                readError = failure("cannot read: \(reason)")
                return
            }
            initialized += got
        }
    }
    if let readError { throw readError }
    return bytes
}

/// Replaces the file at `path` with `bytes`, atomically and durably (core's `writeAtomically`:
/// temporary file, fsync, rename), so a crash never leaves a half-written file behind.
func writeFileBytes(_ bytes: [UInt8], atPath path: String) throws {
    try writeFileAtomically(bytes, toPath: path)
}
