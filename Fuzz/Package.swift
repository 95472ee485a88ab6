// swift-tools-version:6.0
// libFuzzer targets for Galen's binary parsers (docs/fuzzing.md). A separate package so that the
// sanitizer flags never touch the main build: build and run through Fuzz/run.sh.
import Foundation
import PackageDescription

// The root package's identity is its folder name, which depends on the checkout.
let rootIdentity = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent.lowercased()

/// One fuzz target per parser: Sources/<name>/<name>.swift defines LLVMFuzzerTestOneInput.
let fuzzTargets = [
    "FuzzNPY", "FuzzNPZ", "FuzzPNG", "FuzzTIFF", "FuzzNIfTI",
    "FuzzWFDBHeader", "FuzzWFDBRecord", "FuzzWFDBAnnotations", "FuzzInflate", "FuzzDICOM",
]

let package = Package(
    name: "GalenFuzz",
    dependencies: [.package(path: "..")],
    targets: fuzzTargets.map { name in
        .executableTarget(
            name: name,
            dependencies: [.product(name: "GalenData", package: rootIdentity)],
            // libFuzzer supplies main(); the module must not have top-level code.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    },
    swiftLanguageModes: [.v6]
)
