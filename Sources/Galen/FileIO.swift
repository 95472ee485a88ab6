#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

// Whole-file reads and crash-safe writes, on POSIX calls rather than Foundation's so that every
// failure says which file and the system's reason, and so that a write can fsync. They live in
// core, below every floor that writes files (checkpoints, images, volumes, run folders), so that
// all of Galen writes files the same crash-safe way.

/// The system's description of an errno value, e.g. "No such file or directory".
private func reason(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// Reads the whole regular file at `path` with one allocation and no zero-filling, so a large
/// checkpoint is copied from the kernel once.
public func readWholeFile(atPath path: String) throws(DataFormatError) -> Data {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw DataFormatError(source: path, message: "cannot open: \(reason(errno))") }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else {
        throw DataFormatError(source: path, message: "cannot read its size: \(reason(errno))")
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
        throw DataFormatError(source: path, message: "not a regular file")
    }
    let size = Int(info.st_size)
    guard let buffer = malloc(max(size, 1)) else {
        throw DataFormatError(source: path, message: "cannot allocate \(size) bytes to read it")
    }
    var done = 0
    while done < size {
        // Linux transfers at most about 2 GiB per read call.
        let got = read(descriptor, buffer + done, min(size - done, 1 << 30))
        if got < 0 && errno == EINTR { continue }
        guard got > 0 else {
            let message = got == 0 ? "file shrank from \(size) to \(done) bytes while being read" : reason(errno)
            free(buffer)
            throw DataFormatError(source: path, message: "cannot read: \(message)")
        }
        done += got
    }
    return Data(bytesNoCopy: buffer, count: size, deallocator: .free)
}

/// The system's write(2); a free function so that `FileSink.write` does not shadow it.
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}

/// Sequential writes to an open file descriptor; handed to the closure of `writeAtomically`.
public struct FileSink {
    fileprivate let descriptor: Int32
    fileprivate let path: String
    fileprivate let temporaryPath: String

    /// Writes all of `buffer`, resuming after partial writes and signals.
    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        guard var next = buffer.baseAddress else { return }
        var remaining = buffer.count
        while remaining > 0 {
            let written = systemWrite(descriptor, next, min(remaining, 1 << 30))
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                throw DataFormatError(
                    source: path, message: "cannot write temporary file \(temporaryPath): \(reason(errno))")
            }
            next += written
            remaining -= written
        }
    }
}

/// Writes a file so that `path` holds either its old contents or all of the new ones, never a
/// truncated mix, even if the process or the machine dies part way: `fill` writes into a temporary
/// file in the same directory (same file system, so the rename is atomic), which is flushed to
/// disk and then renamed over `path`. On failure the temporary file is removed and the error names
/// `path`.
public func writeAtomically(
    toPath path: String, _ fill: (FileSink) throws -> Void
) throws {
    let slash = path.lastIndex(of: "/")
    let directoryPrefix = slash.map { String(path[...$0]) } ?? ""
    let fileName = slash.map { String(path[path.index(after: $0)...]) } ?? path
    guard !fileName.isEmpty else {
        throw DataFormatError(source: path, message: "cannot write: the path names a directory, not a file")
    }
    // Hidden and unique; the name's prefix says which file a leftover (after a power cut) was for.
    let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
    let temporaryPath = "\(directoryPrefix).\(fileName.prefix(64)).\(getpid()).\(suffix).tmp"
    let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
    guard descriptor >= 0 else {
        let directory = directoryPrefix.isEmpty ? "the current directory" : directoryPrefix
        throw DataFormatError(
            source: path, message: "cannot create a temporary file in \(directory): \(reason(errno))")
    }
    var isOpen = true
    do {
        try fill(FileSink(descriptor: descriptor, path: path, temporaryPath: temporaryPath))
        // Data must be on disk before the rename makes it visible under the real name; otherwise a
        // crash could leave the new name pointing at an empty file.
        guard fsync(descriptor) == 0 else {
            throw DataFormatError(source: path, message: "cannot flush temporary file to disk: \(reason(errno))")
        }
        isOpen = false
        guard close(descriptor) == 0 else {
            throw DataFormatError(source: path, message: "cannot close temporary file: \(reason(errno))")
        }
        guard rename(temporaryPath, path) == 0 else {
            throw DataFormatError(source: path, message: "cannot replace the file: \(reason(errno))")
        }
    } catch {
        if isOpen { close(descriptor) }
        unlink(temporaryPath)
        throw error
    }
    // Make the rename itself durable. Best effort: some file systems refuse fsync on directories,
    // and the new file is complete either way.
    let directory = open(directoryPrefix.isEmpty ? "." : directoryPrefix, O_RDONLY | O_CLOEXEC)
    if directory >= 0 {
        _ = fsync(directory)
        close(directory)
    }
}

/// Replaces the file at `path` with `bytes`, crash-safely (see `writeAtomically`).
public func writeFileAtomically<Bytes: ContiguousBytes>(_ bytes: Bytes, toPath path: String) throws {
    try writeAtomically(toPath: path) { sink in
        try bytes.withUnsafeBytes { try sink.write($0) }
    }
}
