import Ledger
import Testing

@Suite("Names and memos")
struct TextRulesTests {
    @Test("a name may hold any Unicode, kept verbatim")
    func acceptsUnicodeNames() throws {
        try TextRules.checkName("Ada")
        try TextRules.checkName("  Zoë 🦊 <b>bold</b>  ")
        try TextRules.checkName(String(repeating: "é", count: 200))
    }

    @Test("empty, blank and over-long names are refused")
    func refusesEmptyAndLongNames() {
        #expect(throws: TextRuleViolation.empty) { try TextRules.checkName("") }
        #expect(throws: TextRuleViolation.empty) { try TextRules.checkName(" \t\n") }
        #expect(throws: TextRuleViolation.tooLong(maximum: 200)) {
            try TextRules.checkName(String(repeating: "a", count: 201))
        }
    }

    @Test("lengths count code points, as PostgreSQL does: a flag is two, an e with a combining accent two")
    func lengthsCountCodePoints() throws {
        try TextRules.checkName(String(repeating: "🇫🇷", count: 100))
        #expect(throws: TextRuleViolation.tooLong(maximum: 200)) {
            try TextRules.checkName(String(repeating: "🇫🇷", count: 101))
        }
        try TextRules.checkMemo(String(repeating: "e\u{301}", count: 250))
        #expect(throws: TextRuleViolation.tooLong(maximum: 500)) {
            try TextRules.checkMemo(String(repeating: "e\u{301}", count: 251))
        }
        // One code point each, however many bytes.
        try TextRules.checkName(String(repeating: "🦊", count: 200))
    }

    @Test("NUL is refused because PostgreSQL text cannot hold it")
    func refusesNUL() {
        #expect(throws: TextRuleViolation.containsNUL) { try TextRules.checkName("a\u{0}b") }
        #expect(throws: TextRuleViolation.containsNUL) { try TextRules.checkMemo("\u{0}") }
    }

    @Test("a memo may be empty but not over 500 characters")
    func memoLength() throws {
        try TextRules.checkMemo("")
        try TextRules.checkMemo(String(repeating: "m", count: 500))
        #expect(throws: TextRuleViolation.tooLong(maximum: 500)) {
            try TextRules.checkMemo(String(repeating: "m", count: 501))
        }
    }
}
