// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Tally",
    products: [
        .executable(name: "tally", targets: ["tally"])
    ],
    targets: [
        // C libraries, each imported by exactly one Swift module.
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "CProcessShims"),

        // FastCGI socket, accept loop, supervisor and worker processes.
        .target(name: "FastCGI", dependencies: ["CFastCGI", "CProcessShims"]),
        // libpq connection, prepared statements, typed errors, retry policy.
        .target(name: "Postgres", dependencies: ["CLibPQ"]),
        // The ledger's rules: money, validation. No I/O.
        .target(name: "Ledger"),
        // The ledger in PostgreSQL: migrations and the operations' SQL.
        .target(name: "LedgerStore", dependencies: ["Ledger", "Postgres"]),
        // HTTP routes, JSON, and the mapping of domain and database errors to responses.
        .target(name: "API", dependencies: ["Ledger", "LedgerStore", "Postgres"]),
        .executableTarget(name: "tally", dependencies: ["API", "FastCGI", "LedgerStore", "Postgres"]),

        .testTarget(name: "LedgerTests", dependencies: ["Ledger"]),
        .testTarget(name: "APITests", dependencies: ["API", "Ledger", "LedgerStore"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres"]),
        // Needs a real PostgreSQL: TALLY_TEST_DATABASE is a libpq conninfo string.
        .testTarget(name: "IntegrationTests", dependencies: ["API", "LedgerStore", "Postgres", "Ledger"]),
    ]
)
