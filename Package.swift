// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Tally",
    products: [
        .executable(name: "tally", targets: ["tally"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2")
    ],
    targets: [
        // C libraries, each imported by exactly one Swift module.
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CArgon2", pkgConfig: "libargon2", providers: [.apt(["libargon2-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CProcessShims"),
        // The request deadline's SIGUSR2 handler, which cancels the worker's statement through libpq.
        .target(name: "CDeadlineCancel", dependencies: ["CLibPQ"]),

        // What every process needs from the system: errors in words, the monotonic clock, log levels.
        .target(name: "SystemSupport"),
        // FastCGI socket, accept loop, supervisor and worker processes.
        .target(name: "FastCGI", dependencies: ["CFastCGI", "CProcessShims", "SystemSupport"]),
        // libpq connection, prepared statements, typed errors, retry policy.
        .target(name: "Postgres", dependencies: ["CLibPQ", "CDeadlineCancel"]),
        // Passwords (argon2id), bearer tokens and their SHA-256 (libcrypto), the kernel's randomness.
        .target(name: "Credentials", dependencies: ["CArgon2", "CCrypto"]),
        // The ledger's rules: money, validation. No I/O.
        .target(name: "Ledger"),
        // The ledger in PostgreSQL: migrations and the operations' SQL.
        .target(name: "LedgerStore", dependencies: ["Ledger", "Postgres", "SystemSupport"]),
        // Store and forward: the spool's record file (append, recover), replay progress and lock. No database.
        .target(name: "Spool", dependencies: ["SystemSupport"]),
        // HTTP routes, JSON, and the mapping of domain and database errors to responses.
        .target(name: "API", dependencies: ["Credentials", "Ledger", "LedgerStore", "Postgres", "Spool"]),
        // An HTTP client (libcurl) for the commands that talk to a running Tally through nginx.
        .target(name: "HTTPClient", dependencies: ["CCurl"]),
        // `tally import` and `tally export`: the files' formats, idempotency keys, batching, resuming, the
        // summary, and Tally's API as a client sees it.
        .target(name: "ImportExport", dependencies: ["API", "Credentials", "HTTPClient", "Ledger", "SystemSupport"]),
        .executableTarget(
            name: "tally",
            dependencies: [
                "API", "Credentials", "FastCGI", "HTTPClient", "ImportExport", "Ledger", "LedgerStore", "Postgres",
                "Spool", "SystemSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "LedgerTests", dependencies: ["Ledger"]),
        .testTarget(name: "APITests", dependencies: ["API", "Credentials", "Ledger", "LedgerStore", "Postgres"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres"]),
        .testTarget(name: "CredentialsTests", dependencies: ["Credentials"]),
        .testTarget(name: "FastCGITests", dependencies: ["FastCGI", "SystemSupport"]),
        .testTarget(name: "SpoolTests", dependencies: ["Spool", "SystemSupport"]),
        .testTarget(name: "SystemSupportTests", dependencies: ["SystemSupport"]),
        .testTarget(name: "HTTPClientTests", dependencies: ["HTTPClient"]),
        .testTarget(name: "ImportExportTests", dependencies: ["API", "HTTPClient", "ImportExport", "Ledger"]),
        // Needs a real PostgreSQL: TALLY_TEST_DATABASE is a libpq conninfo string.
        .testTarget(name: "IntegrationTests", dependencies: ["Credentials", "Ledger", "LedgerStore", "Postgres"]),
    ]
)

// Upcoming language rules, as hummingbird adopts them: `any` spelt out on every existential, and a member visible
// only in a file that imports its module.
for target in package.targets where target.type != .system {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [
            .enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility"),
        ]
}
