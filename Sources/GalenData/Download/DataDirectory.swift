import Foundation

/// Where Galen keeps data it downloads, and where it finds the data bundled with it.
///
/// The data directory is `$GALEN_DATA` when that variable is set and not empty, otherwise
/// `~/.galen/data`. Datasets live in a folder per collection inside it, e.g.
/// `~/.galen/data/medmnist/pneumoniamnist.npz`.
public enum DataDirectory {
    /// The environment variable that overrides the data directory.
    public static let environmentVariable = "GALEN_DATA"

    /// `$GALEN_DATA`, or `~/.galen/data` (`$HOME/.galen/data`).
    public static func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let path = environment[environmentVariable], !path.isEmpty { return path }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".galen/data")
    }

    /// The folders holding Galen's bundled `Data/` (the repository's `Data` folder, recognized by
    /// its `LICENSES.md`): `./Data` when run from the repository, and a `Data` folder in or above
    /// the folder of the running program (e.g. `.build/debug/galen` → `<repo>/Data`). Nearest
    /// first, without duplicates; empty when there is none.
    public static func bundledFolders() -> [String] {
        var starts = [FileManager.default.currentDirectoryPath]
        if let program = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent().path {
            starts.append(program)
        }
        var found: [String] = []
        for start in starts {
            var folder = URL(fileURLWithPath: start).standardizedFileURL
            for _ in 0..<6 {
                let candidate = folder.appendingPathComponent("Data")
                if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("LICENSES.md").path),
                   !found.contains(candidate.path) {
                    found.append(candidate.path)
                    break
                }
                let parent = folder.deletingLastPathComponent()
                if parent.path == folder.path { break }
                folder = parent
            }
        }
        return found
    }
}
