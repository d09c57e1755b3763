import ArgumentParser
import FastCGI
import Glibc

/// tally: the ledger's command line. Each command wires the modules together and does one job.
@main
struct Tally: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally",
        abstract: "Tally, a token ledger: its FastCGI pool and the care of its database.",
        discussion: "CONNINFO is a libpq connection string (default: $TALLY_DATABASE, else \"dbname=tally\").",
        subcommands: [
            ServeCommand.self, MigrateCommand.self, VerifyCommand.self, AdminTokenCommand.self,
            WorkerCommand.self, ReplayCommand.self, ImportCommand.self, ExportCommand.self,
        ])

    /// Exit codes: 0 done (and `--help`), 1 the command failed, 2 the command line (or the environment) is wrong:
    /// an unknown option, a missing value, a value that does not read.
    static func main() {
        var command: (any ParsableCommand)?
        do {
            command = try parseAsRoot()
            try command?.run()
            Glibc.exit(0)
        } catch let error as UsageError {
            let name = command.flatMap { type(of: $0).configuration.commandName } ?? "COMMAND"
            writeError("tally: \(error.message) (see tally \(name) --help)\n")
            Glibc.exit(2)
        } catch let error as ExitCode {
            Glibc.exit(error.rawValue)
        } catch {
            switch exitCode(for: error) {
            case .success:
                // `--help`, `help` and `--experimental-dump-help`: printed by the parser.
                exit(withError: error)
            case .validationFailure:
                writeError(fullMessage(for: error) + "\n")
                Glibc.exit(2)
            default:
                writeError("tally: \(error)\n")
                Glibc.exit(1)
            }
        }
    }

    func run() throws {
        throw CleanExit.helpRequest(self)
    }
}
