import ArgumentParser
import Foundation
import Galen
import GalenData

// What every subcommand prints the same way: errors, and sizes in bytes.

/// Runs `body`; an error it throws becomes one `error: …` line on stderr and exit status 1, so a
/// bad file or an unreachable server never shows a stack trace or ArgumentParser's usage text.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        let message: String
        switch error {
        case let error as DataFormatError: message = error.description
        case let error as DownloadError: message = error.description
        case let error as CommandFailure: message = error.description
        default: message = error.localizedDescription
        }
        printToStandardError("error: \(message)")
        throw ExitCode.failure
    }
}

/// A mistake in what the user asked for, reported as is.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writes `line` and a newline to stderr.
func printToStandardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// A byte count for people, in decimal units: `559.6 KB`, `4.2 MB`.
func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 {
        value /= 1000
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
}

/// Rows padded into columns; `rightAligned` columns (numbers) are padded on the left.
func formatTable(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> [String] {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.indices.map { column in
            let padding = String(repeating: " ", count: widths[column] - row[column].count)
            return rightAligned.contains(column) ? padding + row[column] : row[column] + padding
        }.joined(separator: "  ")
    }.map { String($0.reversed().drop(while: { $0 == " " }).reversed()) }
}
