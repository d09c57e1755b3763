import ImportExport
import Testing

@Suite("Importer: users, batches, refusals and resuming")
struct ImporterTests {
    /// A file of 3 users (100.00 each) and `movements` transfers of 1.00 going round between them.
    private func file(movements: Int) -> String {
        var text = "type,id,name,balance,from,to,amount,memo\n"
        for user in ["a", "b", "c"] { text += "user,\(user),User \(user),100,,,,\n" }
        let ring = ["a", "b", "c"]
        for index in 0..<movements {
            text += "transfer,,,,\(ring[index % 3]),\(ring[(index + 1) % 3]),1.00,\"n\(index), \"\"q\"\"\"\n"
        }
        return text
    }

    /// Runs an import of `text` against `client`; the summary, or the failure that stopped it.
    @discardableResult
    private func run(
        _ text: String, on client: StubLedgerClient, batchSize: Int = 4, importID: String = "f.csv"
    ) throws -> (ImportSummary, ClientFailure?) {
        let importer = Importer(client: client, keys: ImportKeys(importID: importID), batchSize: batchSize)
        let rows = try rows(text)
        do throws(ClientFailure) {
            for row in rows { try importer.add(row) }
            try importer.finish()
            return (importer.summary, nil)
        } catch {
            return (importer.summary, error)
        }
    }

    /// Rows read ahead of time, so that the import's loop throws only the client's failures.
    private func rows(_ text: String) throws -> [Result<ImportRow, ImportRefusal>] {
        let reader = ImportRowReader(format: .csv, bytes: ByteReader(bytes: Array(text.utf8)))
        var rows: [Result<ImportRow, ImportRefusal>] = []
        while let row = try reader.next() { rows.append(row) }
        return rows
    }

    @Test("users are created, movements go in batches of the size asked, and every row is counted")
    func batches() throws {
        let client = StubLedgerClient()
        let (summary, failure) = try run(file(movements: 10), on: client, batchSize: 4)
        #expect(failure == nil)
        #expect(client.batchSizes == [4, 4, 2])
        #expect(summary.usersCreated == 3 && summary.applied == 10 && summary.refused == 0)
        #expect(summary.rowsDone == 13)
        #expect(client.balances == [1: 9_900, 2: 10_100, 3: 10_000])
        #expect(client.names == [1: "User a", 2: "User b", 3: "User c"])
    }

    @Test("a run interrupted mid-way and run again applies nothing twice and ends with the same balances")
    func resumeAfterInterruption() throws {
        let client = StubLedgerClient()
        client.failingBatch = 3
        let (first, failure) = try run(file(movements: 10), on: client, batchSize: 4)
        #expect(failure != nil)
        #expect(first.applied == 8)

        let (second, again) = try run(file(movements: 10), on: client, batchSize: 4)
        #expect(again == nil)
        #expect(second.usersFound == 3 && second.usersCreated == 0)
        #expect(second.replayed == 8 && second.applied == 2 && second.refused == 0)
        #expect(client.balances == [1: 9_900, 2: 10_100, 3: 10_000])
    }

    @Test("a file grown since the last run applies only its new rows")
    func grownFile() throws {
        let client = StubLedgerClient()
        try run(file(movements: 5), on: client)
        let (summary, _) = try run(file(movements: 9), on: client)
        #expect(summary.replayed == 5 && summary.applied == 4)
        #expect(client.balances.values.reduce(0, +) == 30_000)
    }

    @Test("another import id is another import: the same rows apply again")
    func otherImportID() throws {
        let client = StubLedgerClient()
        try run(file(movements: 3), on: client, importID: "one")
        let (summary, _) = try run(file(movements: 3), on: client, importID: "two")
        #expect(summary.usersCreated == 3 && summary.applied == 3 && summary.replayed == 0)
    }

    @Test("refusals carry the row's line: the API's, an unknown user's, a repeated user id's, a bad row's")
    func refusalsByLine() throws {
        let text = """
            type,id,name,balance,from,to,amount
            user,a,A,5,,,
            user,b,B,,,,
            user,a,Again,,,,
            transfer,,,,a,b,9
            transfer,,,,a,zz,1
            transfer,,,,a,b,oops
            transfer,,,,a,b,2

            """
        let client = StubLedgerClient()
        let (summary, failure) = try run(text, on: client)
        #expect(failure == nil)
        #expect(summary.applied == 1 && summary.usersCreated == 2)
        #expect(summary.refusals.map(\.line) == [4, 6, 7, 5])
        #expect(
            summary.refusals.map(\.code) == ["duplicate_user", "unknown_user", "invalid_row", "insufficient_funds"])
        #expect(client.balances == [1: 300, 2: 200])
    }

    @Test("a movement naming a user whose row was refused says so")
    func userRefused() throws {
        let text = "type,id,name,from,to,amount\nuser,a,Refused,,,\nuser,b,B,,,\ndeposit,,,,a,1\n"
        let client = StubLedgerClient()
        client.refusedNames = ["Refused"]
        let (summary, _) = try run(text, on: client)
        #expect(summary.refusals.map(\.line) == [2, 4])
        #expect(summary.refusals.last?.message.contains("was refused") == true)
    }

    @Test("an item whose input the API refuses outright is counted refused and the rest of its batch is sent again")
    func itemRejectedOutright() throws {
        let text = """
            type,id,name,balance,from,to,amount
            user,a,A,50,,,
            user,b,B,,,,
            transfer,,,,a,b,1
            transfer,,,,a,b,7.77
            transfer,,,,a,b,2

            """
        let client = StubLedgerClient()
        client.rejectedAmounts = [777]
        let (summary, _) = try run(text, on: client, batchSize: 10)
        #expect(client.batchSizes == [3, 2])
        #expect(summary.applied == 2 && summary.refusals.map(\.line) == [5])
        #expect(client.balances == [1: 4_700, 2: 300])
    }

    @Test("the summary lists the counts and the refused lines, the first few of many")
    func report() {
        var summary = ImportSummary()
        summary.applied = 5
        summary.replayed = 2
        summary.usersCreated = 1
        for line in 1...4 { summary.refuse(ImportRefusal(line: line, code: "insufficient_funds", message: "short")) }
        let lines = summary.report(limit: 2)
        #expect(lines[0] == "movements: 5 applied, 2 replayed (applied before), 4 refused")
        #expect(lines[1] == "users: 1 created, 0 found (created before)")
        #expect(lines[2] == "refused line 1: insufficient_funds: short")
        #expect(lines.last == "... and 2 more refused rows")
    }
}
