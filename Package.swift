// swift-tools-version:6.0
// Galen: deep learning for medicine. Modules are floors; dependencies only point down (docs: DESIGN.md).
// CPU-specific flags (-target-cpu haswell) come from the build command, never from this manifest,
// so that Galen stays usable as a dependency.
import PackageDescription

let package = Package(
    name: "Galen",
    products: [
        .library(name: "Galen", targets: ["Galen"]),
        .library(name: "GalenNN", targets: ["GalenNN"]),
        .library(name: "GalenOptim", targets: ["GalenOptim"]),
        .library(name: "GalenMetrics", targets: ["GalenMetrics"]),
        .library(name: "GalenData", targets: ["GalenData"]),
        .library(name: "GalenTrain", targets: ["GalenTrain"]),
        .executable(name: "galen", targets: ["galen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS",
            pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib",
            pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // oneDNN 2.x (no pkg-config file on Debian): the fast path of conv2d / convTranspose2d.
        .systemLibrary(
            name: "CDNNL", path: "Sources/CDNNL",
            providers: [.apt(["libdnnl-dev"])]),
        // Image codecs for DICOM's compressed transfer syntaxes (Debian 12 packages).
        .systemLibrary(
            name: "CJPEG", path: "Sources/CJPEG",
            pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(
            name: "CCharLS", path: "Sources/CCharLS",
            pkgConfig: "charls", providers: [.apt(["libcharls-dev"])]),
        .systemLibrary(
            name: "COpenJPEG", path: "Sources/COpenJPEG",
            pkgConfig: "libopenjp2", providers: [.apt(["libopenjp2-7-dev"])]),
        .target(name: "CGalenRuntime", path: "Sources/CGalenRuntime"),
        .target(name: "Galen", dependencies: ["CBLAS", "CDNNL", "CGalenRuntime"]),
        .target(name: "GalenNN", dependencies: ["Galen"]),
        .target(name: "GalenOptim", dependencies: ["Galen", "GalenNN"]),
        .target(name: "GalenMetrics", dependencies: ["Galen"]),
        // Data files and datasets; no GalenNN (DESIGN.md §1).
        .target(name: "GalenData", dependencies: ["Galen", "CZlib", "CJPEG", "CCharLS", "COpenJPEG"]),
        // Trainer, evaluation, run folders and reports: the floor above data, models and metrics.
        .target(name: "GalenTrain", dependencies: ["Galen", "GalenNN", "GalenOptim", "GalenData", "GalenMetrics"]),
        // Shared by the test targets: replays PyTorch fixtures and runs finite-difference checks.
        .target(name: "GalenTestSupport", dependencies: ["Galen"]),
        .executableTarget(
            name: "galen",
            dependencies: [
                "Galen", "GalenData", "GalenMetrics", "GalenNN", "GalenOptim", "GalenTrain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "medmnist-example", dependencies: ["Galen", "GalenData", "GalenMetrics", "GalenNN", "GalenOptim"],
            path: "Examples/MedMNISTClassifier"),
        .executableTarget(
            name: "galen-bench", dependencies: ["Galen", "GalenData", "GalenNN", "GalenOptim", "CBLAS"],
            path: "Benchmarks/Swift"),
        .testTarget(
            name: "GalenTests", dependencies: ["Galen", "CGalenRuntime", "GalenTestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "GalenNNTests", dependencies: ["Galen", "GalenNN", "GalenTestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "GalenOptimTests", dependencies: ["Galen", "GalenData", "GalenNN", "GalenOptim"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "GalenDataTests", dependencies: ["Galen", "GalenData"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "GalenMetricsTests", dependencies: ["Galen", "GalenMetrics"], exclude: ["Fixtures"]),
        .testTarget(name: "GalenTrainTests", dependencies: ["Galen", "GalenNN", "GalenOptim", "GalenData", "GalenTrain"]),
    ],
    swiftLanguageModes: [.v6]
)
