#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// The built `galen` executable, next to the test bundle (`.build/<config>/`).
private func galenExecutable() -> String? {
    let folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for candidate in [folder, folder.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("galen").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

private func run(_ executable: String, _ arguments: [String]) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

@Suite(.serialized) struct KillAndResume {
    /// A `galen train` killed with SIGKILL during its second epoch and continued with `--resume`
    /// ends with exactly the weights and test metrics of a run that was never interrupted.
    @Test func aRunKilledMidEpochResumesToTheSameBits() throws {
        let galen = try #require(galenExecutable(), "the galen executable is not built next to the tests")
        let root = NSTemporaryDirectory() + "galen-kill-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let straight = root + "/straight", interrupted = root + "/interrupted"
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        // An MLP on PneumoniaMNIST: about half a second per epoch, long enough to land a kill inside one.
        let arguments = ["train", "--data", repository.appendingPathComponent("Data/medmnist/pneumoniamnist.npz").path,
                         "--model", "mlp", "--epochs", "4", "--batch-size", "32", "--augment", "light", "--workers", "1",
                         "--threads", "1", "--bootstrap", "50", "--seed", "9", "--quiet"]

        let reference = try run(galen, arguments + ["--output", straight])
        reference.waitUntilExit()
        #expect(reference.terminationStatus == 0)

        let victim = try run(galen, arguments + ["--output", interrupted])
        // Wait for the first epoch's checkpoint, then kill during the second epoch.
        let latest = interrupted + "/checkpoint/latest"
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: latest) && victim.isRunning && Date() < deadline { usleep(5_000) }
        usleep(150_000)
        let killedWhileRunning = victim.isRunning
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        #expect(killedWhileRunning, "the run finished before it could be killed")
        #expect(victim.terminationReason == .uncaughtSignal)
        let checkpoint = try String(contentsOfFile: latest, encoding: .utf8)
        #expect(checkpoint.hasPrefix("epoch-"))

        let resumed = try run(galen, ["train", "--resume", interrupted, "--quiet"])
        resumed.waitUntilExit()
        #expect(resumed.terminationStatus == 0)
        for file in ["model.safetensors", "metrics.json", "checkpoint/epoch-0004.safetensors"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: straight + "/" + file))
            let b = try Data(contentsOf: URL(fileURLWithPath: interrupted + "/" + file))
            #expect(a == b, "\(file) differs after kill and resume")
        }
    }
}
