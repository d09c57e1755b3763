import ImportExport
import Testing

@Suite("Import idempotency keys")
struct ImportKeysTests {
    @Test("the same import and line give the same key on every run")
    func stable() {
        #expect(ImportKeys(importID: "ledger.csv").key(line: 17) == ImportKeys(importID: "ledger.csv").key(line: 17))
    }

    @Test("the key is the import id's hash and the line, short ASCII fit for a header")
    func shape() {
        let key = ImportKeys(importID: "payroll 2026-12 ünïcode.csv").key(line: 123_456)
        #expect(key.hasPrefix("import-") && key.hasSuffix("-123456"))
        #expect(key.utf8.count == "import-".count + 16 + "-123456".count)
        #expect(key.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F })
    }

    @Test("another line or another import id gives another key")
    func distinct() {
        let keys = ImportKeys(importID: "a.csv")
        #expect(keys.key(line: 1) != keys.key(line: 2))
        #expect(keys.key(line: 12) != keys.key(line: 1))
        #expect(ImportKeys(importID: "a.csv").key(line: 3) != ImportKeys(importID: "b.csv").key(line: 3))
    }

    @Test("the key is SHA-256 of the import id: a known value")
    func knownValue() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        #expect(ImportKeys(importID: "abc").key(line: 5) == "import-ba7816bf8f01cfea-5")
    }
}
