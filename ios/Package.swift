// swift-tools-version:5.9
// GridWorkerCore for iOS: the generated Swift bindings plus small CoreLocation and
// BackgroundTasks helpers, over the static library in GridWorkerCoreFFI.xcframework
// (built by ./build-xcframework.sh; not committed).
import PackageDescription

let package = Package(
    name: "GridWorkerCore",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "GridWorkerCore", targets: ["GridWorkerCore"]),
    ],
    targets: [
        .binaryTarget(name: "GridWorkerCoreFFI", path: "GridWorkerCoreFFI.xcframework"),
        .target(
            name: "GridWorkerCore",
            dependencies: ["GridWorkerCoreFFI"],
            path: "Sources/GridWorkerCore",
            // The Rust library's dependencies (rustls, SQLite) need these system libraries.
            linkerSettings: [.linkedFramework("Security"), .linkedFramework("SystemConfiguration")]
        ),
        .testTarget(
            name: "GridWorkerCoreTests",
            dependencies: ["GridWorkerCore"],
            path: "Tests/GridWorkerCoreTests"
        ),
    ]
)
