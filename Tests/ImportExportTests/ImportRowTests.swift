import ImportExport
import Ledger
import Testing

@Suite("Import rows")
struct ImportRowTests {
    /// Every row of `text` read as `format`.
    private func rows(_ text: String, _ format: ImportFormat = .csv) throws -> [Result<ImportRow, ImportRefusal>] {
        let reader = ImportRowReader(format: format, bytes: ByteReader(bytes: Array(text.utf8)))
        var rows: [Result<ImportRow, ImportRefusal>] = []
        while let row = try reader.next() { rows.append(row) }
        return rows
    }

    private func money(_ text: String) -> Money { try! Money(parsing: text) }

    @Test("a CSV file of users and movements reads into typed rows, columns in any order")
    func csvRows() throws {
        let text = #"""
            memo,type,id,name,balance,from,to,amount
            ,user,u1,Ada Lovelace,100.5,,,
            ,user, u2 ,Bob,,,,
            "lunch, ""the usual""",transfer,,,,u1,u2,12.34
            ,deposit,,,,,u2,5
            ,withdrawal,,,,u1,,1.00

            """#
        #expect(
            try rows(text) == [
                .success(
                    .user(ImportUser(line: 2, externalID: "u1", name: "Ada Lovelace", openingBalance: money("100.50")))),
                .success(.user(ImportUser(line: 3, externalID: "u2", name: "Bob", openingBalance: .zero))),
                .success(
                    .movement(
                        ImportMovement(
                            line: 4, kind: .transfer, from: "u1", to: "u2", amount: money("12.34"),
                            memo: "lunch, \"the usual\""))),
                .success(
                    .movement(
                        ImportMovement(line: 5, kind: .deposit, from: nil, to: "u2", amount: money("5"), memo: nil))),
                .success(
                    .movement(
                        ImportMovement(line: 6, kind: .withdrawal, from: "u1", to: nil, amount: money("1"), memo: nil))),
            ])
    }

    @Test("NDJSON lines carry the same fields, ids and amounts as strings or numbers")
    func ndjsonRows() throws {
        let text = """
            {"type": "user", "id": 7, "name": "Ada", "balance": 10.25}

            {"type": "transfer", "from": 7, "to": "x", "amount": "1.5", "memo": null}
            """
        #expect(
            try rows(text, .ndjson) == [
                .success(.user(ImportUser(line: 1, externalID: "7", name: "Ada", openingBalance: money("10.25")))),
                .success(
                    .movement(
                        ImportMovement(line: 3, kind: .transfer, from: "7", to: "x", amount: money("1.50"), memo: nil))),
            ])
    }

    @Test(
        "a row that does not read is refused with its line and a reason, and the reading goes on",
        arguments: [
            ("refund,,,,u1,u2,1", "type must be"),
            ("transfer,,,,u1,,1", "needs to"),
            ("deposit,,,,u1,u2,1", "takes no from"),
            ("user,u9,,,,,", "needs name"),
            ("user,u9,Ann,,,,5", "takes no amount"),
            ("transfer,,,,u1,u2,1.005", "at most 2 digits"),
            ("transfer,,,,u1,u2,0", "more than 0"),
            ("transfer,,,,u1,u2,-3", "negative"),
            ("transfer,,,,u1,u1,3", "the same user"),
            ("user,u9,Ann,-1,,,", "balance must not be negative"),
            ("user,u9,   ,,,,", "name must not be empty"),
            ("transfer,,,,u1,u2", "has 6 fields, the header 7"),
        ])
    func refusedRows(row: String, reason: String) throws {
        let read = try rows("type,id,name,balance,from,to,amount\n\(row)\nuser,ok,Ok,,,,\n")
        #expect(read.count == 2)
        guard case .failure(let refusal) = read[0] else {
            Issue.record("\(row) was not refused")
            return
        }
        #expect(refusal.line == 2)
        #expect(refusal.code == "invalid_row")
        #expect(refusal.message.contains(reason), "\(refusal.message)")
        #expect((try? read[1].get())?.line == 3)
    }

    @Test("a memo over 500 characters is refused as the API would")
    func longMemo() throws {
        let memo = String(repeating: "m", count: 501)
        let read = try rows("type,from,to,amount,memo\ntransfer,a,b,1,\(memo)\n")
        guard case .failure(let refusal) = read.first else {
            Issue.record("the long memo was not refused")
            return
        }
        #expect(refusal.message.contains("memo must be at most 500"))
    }

    @Test(
        "NDJSON lines that are not objects of known fields are refused",
        arguments: [
            ("{\"type\": \"user\", \"id\": \"a\", \"name\": \"A\", \"email\": \"a@b\"}", "unknown field \"email\""),
            ("{\"type\": \"user\", \"id\": \"a\"", "not JSON"),
            ("[1, 2]", "not a JSON object"),
            ("{\"type\": \"deposit\", \"to\": \"a\", \"amount\": [1]}", "amount must be a string, a number or null"),
            ("{\"type\": \"deposit\", \"to\": \"a\", \"amount\": 1e3}", "without an exponent"),
        ])
    func refusedNDJSON(line: String, reason: String) throws {
        let read = try rows("\(line)\n{\"type\": \"user\", \"id\": \"z\", \"name\": \"Z\"}\n", .ndjson)
        #expect(read.count == 2)
        guard case .failure(let refusal) = read[0] else {
            Issue.record("\(line) was not refused")
            return
        }
        #expect(refusal.line == 1)
        #expect(refusal.message.contains(reason), "\(refusal.message)")
    }

    @Test("a header with an unknown or repeated column, or without type, stops the import before anything")
    func badHeaders() {
        for header in ["type,id,amout", "type,id,ID", "id,name"] {
            #expect(throws: ImportFileError.self, "\(header)") { try rows("\(header)\nuser,u1,A\n") }
        }
        #expect(throws: ImportFileError.self) { try rows("") }
    }

    @Test("the format follows the file's extension")
    func formatFromName() {
        #expect(ImportFormat(fileName: "ledger.CSV") == .csv)
        #expect(ImportFormat(fileName: "dump.ndjson") == .ndjson)
        #expect(ImportFormat(fileName: "dump.jsonl") == .ndjson)
        #expect(ImportFormat(fileName: "dump.json") == nil)
    }
}
