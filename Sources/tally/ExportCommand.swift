import ArgumentParser
import FastCGI
import Glibc
import HTTPClient
import ImportExport

/// `tally export`: a user's history, or every movement, as CSV with a header row, read through the API (nginx)
/// page by page. A file is written whole or not at all: into FILE.partial, renamed to FILE at the end.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a user's history, or every movement, as CSV, through the API.",
        discussion: """
            With --user: id, created_at, kind, amount, counterparty_user_id, balance_after, memo, batch_id (GET \
            /api/users/{id}/transactions); without: id, created_at, kind, from_user_id, to_user_id, amount, memo, \
            batch_id (GET /api/transactions, the service role). Newest first, as the API lists them.
            """)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("the user whose history to write (default: everyone's)", valueName: "ID"))
    var user: Int64?
    @Option(
        parsing: .unconditional, help: ArgumentHelp("the file to write (default: standard output)", valueName: "FILE"))
    var output: String?
    @OptionGroup var server: ServerOptions

    func validate() throws {
        if let user, user <= 0 { throw ValidationError("--user must be a user's id (1 or more), not \(user)") }
    }

    func run() throws {
        let token = try server.token()
        let client = TallyClient(
            baseURL: server.baseURL, token: token, transport: try HTTPClient(timeout: 120),
            sleep: { pause(seconds: $0) })
        client.onRetry = { problem, delay in writeError("tally export: \(problem); trying again in \(delay) s\n") }
        let scope: ExportScope = user.map { .user($0) } ?? .everyone

        let partial = output.map { $0 + ".partial" }
        let descriptor = partial.map { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) } ?? STDOUT_FILENO
        guard descriptor >= 0 else {
            throw UsageError(message: "cannot write \(partial!): \(String(cString: strerror(errno)))")
        }
        let count: Int
        do throws(ExportError) {
            count = try Exporter(client: client).export(scope) { (text) throws(ExportError) in
                try Self.write(text, to: descriptor, name: output ?? "standard output")
            }
            if let partial, let output {
                guard fsync(descriptor) == 0, close(descriptor) == 0, rename(partial, output) == 0 else {
                    throw .output("cannot finish \(output): \(String(cString: strerror(errno)))")
                }
            }
        } catch {
            if let partial {
                close(descriptor)
                unlink(partial)
            }
            writeError("tally export: \(error)\n")
            throw ExitCode.failure
        }
        writeError("tally export: \(count) movements written to \(output ?? "standard output")\n")
    }

    private static func write(_ text: String, to descriptor: Int32, name: String) throws(ExportError) {
        var text = text
        let failure: Int32? = text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return nil
        }
        if let failure { throw .output("cannot write \(name): \(String(cString: strerror(failure)))") }
    }
}
