import ArgumentParser
import FastCGI
import Glibc
import HTTPClient
import ImportExport

/// `tally import FILE`: users with opening balances and movements from another system, sent through the API
/// (nginx) as any client would: users one by one, movements in non-atomic batches, every request and item with an
/// idempotency key derived from the import's id and the row's line. Run again after an interruption, it applies
/// nothing twice. The format is in docs/operations.md ("Import and export").
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Send a file of users and movements from another system to Tally, through its API.",
        discussion: """
            Rows (CSV with a header row, or NDJSON) have a type: user (id, name, balance), transfer (from, to, \
            amount, memo), deposit (to, amount, memo) or withdrawal (from, amount, memo); ids are the other \
            system's. Running the same import again (same --import-id) after an interruption applies nothing \
            twice, within the pool's idempotency retention (24 hours by default). Exits 1 when a row was refused \
            or the import stopped, listing why.
            """)

    @Argument(help: ArgumentHelp("the file (.csv, or .ndjson / .jsonl)", valueName: "FILE"))
    var file: String
    @Option(parsing: .unconditional, help: ArgumentHelp("csv or ndjson (default: from FILE's extension)"))
    var format: String?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "what the idempotency keys derive from; keep it to resume an import, change it to import the same rows"
                + " again (default: FILE's name)", valueName: "ID"))
    var importID: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("movements per batch, 1 to 1000", valueName: "N"))
    var batchSize = 500
    @OptionGroup var server: ServerOptions

    func validate() throws {
        guard (1...Importer<TallyClient<HTTPClient>>.maximumBatchSize).contains(batchSize) else {
            throw ValidationError("--batch-size must be from 1 to 1000, not \(batchSize)")
        }
        if let format, ImportFormat(rawValue: format) == nil {
            throw ValidationError("--format must be csv or ndjson, not \(format)")
        }
    }

    func run() throws {
        let name = file.split(separator: "/").last.map(String.init) ?? file
        guard let format = format.flatMap(ImportFormat.init(rawValue:)) ?? ImportFormat(fileName: name) else {
            throw UsageError(message: "cannot tell the format of \(file) from its name: give --format csv or ndjson")
        }
        let token = try server.token()
        let descriptor = open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw UsageError(message: "cannot open \(file): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }

        // A first pass reads the whole file: a broken file stops here with nothing sent, and the count of rows
        // lets the progress say how much is left.
        var totalRows = 0
        do throws(ImportFileError) {
            let reader = ImportRowReader(format: format, bytes: ByteReader(fileDescriptor: descriptor))
            while try reader.skip() { totalRows += 1 }
        } catch {
            writeError("tally import: \(file): \(error); nothing was sent\n")
            throw ExitCode.failure
        }
        guard lseek(descriptor, 0, SEEK_SET) == 0 else {
            throw UsageError(message: "cannot read \(file) twice (it must be a file, not a pipe)")
        }

        let keys = ImportKeys(importID: importID ?? name)
        let client = TallyClient(
            baseURL: server.baseURL, token: token, transport: try HTTPClient(timeout: 120),
            sleep: { pause(seconds: $0) })
        let importer = Importer(client: client, keys: keys, batchSize: batchSize)
        let progress = ImportProgress(totalRows: totalRows)
        client.onRetry = { problem, delay in progress.note("\(problem); trying again in \(delay) s") }
        importer.onProgress = { progress.update($0) }

        var stop: String?
        let reader = ImportRowReader(format: format, bytes: ByteReader(fileDescriptor: descriptor))
        do {
            while let row = try reader.next() { try importer.add(row) }
            try importer.finish()
        } catch let error as ImportFileError {
            // The file changed since the first pass.
            stop = "\(file): \(error)"
        } catch {
            stop = "\(error)"
        }
        progress.finish(importer.summary)

        print("import \(file) (import id \"\(keys.importID)\", \(totalRows) rows)")
        for line in importer.summary.report() { print(line) }
        if let stop {
            print("STOPPED: \(stop)")
            print(
                "Nothing after that was sent. Run the same command again to go on: rows applied before are answered as replayed."
            )
        }
        if stop != nil || importer.summary.refused > 0 { throw ExitCode.failure }
    }
}
