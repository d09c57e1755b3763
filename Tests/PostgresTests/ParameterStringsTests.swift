import Testing

@testable import Postgres

@Suite("Statement parameters handed to libpq as C strings")
struct ParameterStringsTests {
    /// What libpq would read from each pointer: the text up to its NUL, or nil for SQL NULL.
    private func read(_ strings: [String?]) throws(PostgresError) -> [String?] {
        try withCStrings(strings) { pointers in pointers.map { $0.map { String(cString: $0) } } }
    }

    @Test("each parameter arrives whole, NULL as a null pointer, empty and non-ASCII text included")
    func passesEveryParameterWhole() throws {
        let parameters: [String?] = [
            "transfer", nil, "", "café ☕ 𝄞", String(repeating: "x", count: 300), "a", "\\x00ff", nil,
        ]
        #expect(try read(parameters) == parameters)
    }

    @Test("a parameter holding a NUL is refused, and the statement is never handed over")
    func refusesNUL() {
        for parameters in [["a\u{0}b"], ["ok", "\u{0}"], [nil, "tail\u{0}"], ["\u{0}"]] {
            var called = false
            let error = #expect(throws: PostgresError.self) {
                try withCStrings(parameters) { _ in called = true }
            }
            #expect(error?.sqlState == "22021" && error?.message == PostgresError.nulInParameter.message)
            #expect(!called)
        }
    }
}
