#if canImport(Glibc)
import Glibc
#endif
import GalenData

// WFDB records end to end: header text, grouping of signals by file, and decoding of formats
// 212, 16 and 80. The input is the header text, a NUL byte, then the signal file's bytes; the
// header and every signal file it names are written to a private folder (tmpfs when there is one)
// and read back through WFDBRecord(header:), the public entry point. Headers that name a file
// outside that folder are skipped.

nonisolated(unsafe) private var folder: String? = nil

private func makeFolder() -> String {
    if let folder { return folder }
    let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    var template = Array("\(base)/galen-fuzz-wfdb-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    guard made != nil else { fatalError("mkdtemp failed") }
    let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    folder = path
    atexit { if let folder { rmdir(folder) } }
    return path
}

private func write(_ bytes: some Collection<UInt8>, to path: String) {
    let file = fopen(path, "wb")!
    let array = Array(bytes)
    if !array.isEmpty { _ = fwrite(array, 1, array.count, file) }
    fclose(file)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    let split = input.firstIndex(of: 0) ?? size
    let headerBytes = input[..<split]
    let signalBytes = split < size ? input[(split + 1)...] : input[size...]
    let text = String(validating: headerBytes, as: UTF8.self)
        ?? String(String.UnicodeScalarView(headerBytes.map { Unicode.Scalar($0) }))
    guard let header = try? WFDBHeader(text: text, source: "fuzz") else { return 0 }
    let names = Set(header.signals.map(\.fileName))
    for name in names {
        guard !name.isEmpty, name.utf8.count <= 64, name != ".", name != "..", name != "r.hea",
              !name.utf8.contains(UInt8(ascii: "/")), !name.utf8.contains(0) else { return 0 }
    }
    let dir = makeFolder()
    write(headerBytes, to: dir + "/r.hea")
    for name in names { write(signalBytes, to: dir + "/" + name) }
    if let record = try? WFDBRecord(header: dir + "/r.hea") {
        precondition(record.digital.count == record.signalInfo.count * record.sampleCount)
    }
    for name in names { unlink(dir + "/" + name) }
    unlink(dir + "/r.hea")
    return 0
}
