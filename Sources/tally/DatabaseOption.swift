import ArgumentParser

/// `--database CONNINFO`, which every command but `worker` and `replay` may also take from TALLY_DATABASE.
struct DatabaseOption: ParsableArguments {
    static let setting = Setting<String>("database", environment: "TALLY_DATABASE", default: "dbname=tally")

    @Option(
        parsing: .unconditional,
        help: setting.help("a libpq connection string; `PGHOST`, `PGPORT`, ... apply", valueName: "CONNINFO"))
    var database: String?

    /// The connection string: the command line's, else TALLY_DATABASE, else `dbname=tally`.
    var conninfo: String {
        // The setting has a default: there is always a value.
        Self.setting.string(database)!
    }
}
