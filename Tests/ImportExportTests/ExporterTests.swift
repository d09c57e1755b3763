import HTTPClient
import ImportExport
import Testing

@Suite("Export as CSV")
struct ExporterTests {
    private func export(_ scope: ExportScope, _ transport: StubTransport) throws -> (String, Int) {
        let client = TallyClient(baseURL: "http://h", token: "t", transport: transport, sleep: { _ in })
        var text = ""
        let count = try Exporter(client: client).export(scope) { text += $0 }
        return (text, count)
    }

    @Test("a user's history: the header, then every page's rows, following the cursor")
    func userHistory() throws {
        let transport = StubTransport([
            .answer(
                200,
                #"""
                {"items": [{"id": 9, "kind": "transfer_in", "amount": "1.00", "amount_minor": 100,
                  "counterparty_user_id": 2, "memo": "lunch, \"the usual\"", "created_at": "2026-12-07T01:00:00Z",
                  "balance_after": "11.00", "balance_after_minor": 1100, "batch_id": 4}],
                 "next_cursor": "dGFsbHk6OQ=="}
                """#),
            .answer(
                200,
                #"""
                {"items": [{"id": 3, "kind": "deposit", "amount": "10.00", "counterparty_user_id": null, "memo": null,
                  "created_at": "2026-12-06T01:00:00Z", "balance_after": "10.00", "batch_id": null}],
                 "next_cursor": null}
                """#),
        ])
        let (text, count) = try export(.user(1), transport)
        #expect(count == 2)
        #expect(
            text == #"""
                id,created_at,kind,amount,counterparty_user_id,balance_after,memo,batch_id
                9,2026-12-07T01:00:00Z,transfer_in,1.00,2,11.00,"lunch, ""the usual""",4
                3,2026-12-06T01:00:00Z,deposit,10.00,,10.00,,

                """#)
        #expect(
            transport.requests.map(\.url) == [
                "http://h/api/users/1/transactions?limit=100",
                "http://h/api/users/1/transactions?limit=100&cursor=dGFsbHk6OQ%3D%3D",
            ])
    }

    @Test("everyone's movements come from the feed, with its columns; an empty ledger is the header alone")
    func everyone() throws {
        let (text, count) = try export(.everyone, StubTransport([.answer(200, #"{"items": [], "next_cursor": null}"#)]))
        #expect(count == 0)
        #expect(text == "id,created_at,kind,from_user_id,to_user_id,amount,memo,batch_id\n")
    }

    @Test("a refusal stops the export with the API's reason")
    func refused() {
        let transport = StubTransport([.answer(404, #"{"error": {"code": "not_found", "message": "no such user"}}"#)])
        do {
            _ = try export(.user(99), transport)
            Issue.record("no failure")
        } catch {
            #expect("\(error)".contains("404 not_found: no such user"))
        }
    }

    @Test("what CSVWriter writes, CSVReader reads back the same")
    func roundTrip() throws {
        let fields = ["plain", "a,b", "say \"hi\"", "two\nlines", "", " spaced ", "crlf\r\n"]
        let reader = CSVReader(ByteReader(bytes: Array(CSVWriter.line(fields).utf8)))
        #expect(try reader.next()?.fields == fields)
        #expect(try reader.next() == nil)
    }
}
